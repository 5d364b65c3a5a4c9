// base/cli.h: the facade hands everything to CLI11, so these check the wiring (values, what was
// given, exit statuses, where CLI11's messages go), not CLI11 itself.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "base/cli.h"

namespace cp::cli {
namespace {

struct Parsed {
  std::optional<int> status;
  std::string out, err;
};

Parsed parse(App& app, const std::vector<std::string>& args) {
  std::ostringstream out, err;
  const std::optional<int> status = app.parse(args, out, err);
  return {status, out.str(), err.str()};
}

TEST(Cli, StoresValuesAndReportsWhatWasGiven) {
  App app{"test"};
  std::string store;
  unsigned cores = 2;
  double seconds = 3;
  std::vector<unsigned> shards;
  bool verbose = false, pin = true;
  app.option("STORE", store, "a positional");
  app.option("--cores", cores, "cores").range(1u, 64u);
  app.option("--seconds", seconds, "seconds").positive();
  app.option("--shards", shards, "shards").delimiter(',');
  app.flag("-v,--verbose", verbose, "say more");
  app.flag("--pin,!--no-pin", pin, "pin");

  const Parsed p = parse(app, {"--cores", "8", "-v", "dir", "--shards", "1,2", "--no-pin"});
  ASSERT_FALSE(p.status) << p.err;
  EXPECT_EQ(store, "dir");
  EXPECT_EQ(cores, 8u);
  EXPECT_EQ(seconds, 3);  // not given: the default stays
  EXPECT_EQ(shards, (std::vector<unsigned>{1, 2}));
  EXPECT_TRUE(verbose);
  EXPECT_FALSE(pin);
  EXPECT_TRUE(app.given("--cores"));
  EXPECT_FALSE(app.given("--seconds"));
  EXPECT_EQ(app.given_options(),
            (std::vector<std::string>{"STORE", "--cores", "--shards", "--verbose", "--pin"}));
}

TEST(Cli, UsageErrorsAreCli11sOnErr) {
  App app{"test"};
  int repeat = 5;
  std::string mode = "a", file, size;
  app.option("--repeat", repeat, "runs").range(1, 100);
  app.option("--mode", mode, "mode").one_of({"a", "b"});
  app.option("--file", file, "file").existing_file();
  app.option("--size", size, "size").check([](const std::string& v) -> std::string {
    return v == "big" ? "" : "only big";
  });

  for (const auto& [args, message] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--repeat", "0"}, "--repeat: Value 0 not in range 1 to 100"},
           {{"--mode", "c"}, "--mode: c not in {a,b}"},
           {{"--file", "/nonexistent/x"}, "--file: File does not exist: /nonexistent/x"},
           {{"--size", "small"}, "--size: only big"},
           {{"--bogus"}, "The following argument was not expected: --bogus"}}) {
    const Parsed p = parse(app, args);
    ASSERT_TRUE(p.status) << args[0];
    EXPECT_NE(*p.status, 0) << args[0];
    EXPECT_EQ(p.err, message + "\nRun with --help for more information.\n") << args[0];
    EXPECT_EQ(p.out, "") << args[0];
  }
  EXPECT_EQ(repeat, 5);
}

TEST(Cli, HelpAndVersionEndTheRunWithZero) {
  App app{"the tool", "tool"};
  int repeat = 5;
  uint64_t count = 0;
  app.option("--repeat", repeat, "runs").range(1, 100).show_default();
  app.option("--count", count, "how many").type_name("N");
  app.version_flag("--version", "1.2.3");
  app.footer("the footer");

  const Parsed help = parse(app, {"--help"});
  ASSERT_TRUE(help.status);
  EXPECT_EQ(*help.status, 0);
  EXPECT_EQ(help.out, app.help());
  EXPECT_EQ(help.err, "");
  for (const char* text :
       {"Usage: tool [OPTIONS]", "--repeat INT:INT in [1 - 100]=5", "--count N", "the footer"}) {
    EXPECT_NE(help.out.find(text), std::string::npos) << text << " in\n" << help.out;
  }

  const Parsed version = parse(app, {"--version"});
  ASSERT_TRUE(version.status);
  EXPECT_EQ(*version.status, 0);
  EXPECT_EQ(version.out, "1.2.3\n");
}

TEST(Cli, SubcommandsAndGroups) {
  App app{"test"};
  app.require_subcommand(1);
  std::string dir;
  bool json = false;
  App& split = app.subcommand("split", "split a shard");
  split.option("--dir", dir, "the shard").required();
  App& verify = app.subcommand("verify", "verify a shard");
  verify.option("--dir", dir, "the shard").required();
  App& output = verify.group("output", "how to print");
  output.flag("--json", json, "JSON");

  const Parsed none = parse(app, {});
  ASSERT_TRUE(none.status);
  EXPECT_EQ(none.err, "A subcommand is required\nRun with --help for more information.\n");
  const Parsed missing = parse(app, {"verify"});
  ASSERT_TRUE(missing.status);
  EXPECT_EQ(missing.err, "--dir is required\nRun with --help for more information.\n");

  const Parsed ok = parse(app, {"verify", "--dir", "d", "--json"});
  ASSERT_FALSE(ok.status) << ok.err;
  EXPECT_FALSE(split.parsed());
  EXPECT_TRUE(verify.parsed());
  EXPECT_EQ(dir, "d");
  EXPECT_TRUE(json);
}

}  // namespace
}  // namespace cp::cli
