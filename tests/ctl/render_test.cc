// cellctl's renderings of the daemon's result shapes, the generic table/object fallbacks and the
// parsing of command words.
#include "ctl/render.h"

#include <gtest/gtest.h>

namespace cp::ctl {
namespace {

std::string render(std::string_view cmd, std::string_view json) {
  auto text = render_result(cmd, json);
  EXPECT_TRUE(text) << text.error();
  return text ? *text : "";
}

TEST(Render, Status) {
  EXPECT_EQ(render("status", R"({"version":"0.1.0","uptime_s":93784,"cores":4,)"
                             R"("backend":"io_uring","pid":4242})"),
            "version:  0.1.0\n"
            "uptime_s: 93784 (1d 2h 3m 4s)\n"
            "cores:    4\n"
            "backend:  io_uring\n"
            "pid:      4242\n");
}

TEST(Render, Stats) {
  const std::string json =
      R"([{"core":0,"backend":"io_uring","connections_open":3,"connections_accepted":10,)"
      R"("bytes_received":123456,"bytes_sent":654321,"cross_core_backlog":0,)"
      R"("loop_iterations":99,"idle_timeouts":0},)"
      R"({"core":1,"backend":"io_uring","connections_open":12,"connections_accepted":20,)"
      R"("bytes_received":7,"bytes_sent":8,"cross_core_backlog":5,"loop_iterations":1000}])";
  EXPECT_EQ(render("stats", json),
            "CORE   BACKEND   CONNS  ACCEPTED  BYTES IN  BYTES OUT  RING DEPTH  LOOP ITERATIONS\n"
            "0      io_uring      3        10    123456     654321           0               99\n"
            "1      io_uring     12        20         7          8           5             1000\n"
            "total               15        30    123463     654329           5             1099\n");
}

TEST(Render, StatsOneCoreMissingKey) {
  EXPECT_EQ(render("stats", R"([{"core":0,"backend":"epoll","connections_open":1}])"),
            "CORE  BACKEND  CONNS  ACCEPTED  BYTES IN  BYTES OUT  RING DEPTH  LOOP ITERATIONS\n"
            "0     epoll        1  -         -         -          -           -\n");
}

TEST(Render, KnownCommands) {
  EXPECT_EQ(render("config.show", R"({"toml":"[engine]\ncores = 2"})"), "[engine]\ncores = 2\n");
  EXPECT_EQ(render("log-level", R"({"level":"debug"})"), "log level: debug\n");
  EXPECT_EQ(render("shutdown", "null"), "cellplaned is shutting down\n");
  EXPECT_EQ(render("shutdown", R"({"draining":3})"), "cellplaned is shutting down\n");
}

TEST(Render, UnexpectedShapesFallBackToGeneric) {
  EXPECT_EQ(render("stats", R"({"core":0})"), "core: 0\n");
  EXPECT_EQ(render("config.show", R"({"text":"x"})"), "text: x\n");
  EXPECT_EQ(render("log-level", R"("info")"), "info\n");
}

TEST(Render, GenericTable) {
  EXPECT_EQ(
      render("remsim.slotmaps.list", R"([{"bank":1,"slot":0,"client":"c1","note":"caf\u00e9"},)"
                                     R"({"bank":12,"slot":3,"client":null,"extra":[1,2]}])"),
      "BANK  SLOT  CLIENT  NOTE  EXTRA\n"
      "   1     0  c1      caf\xc3\xa9  -\n"  // "café" is 4 columns wide, not 5 bytes
      "  12     3  -       -     1, 2\n");
  EXPECT_EQ(render("help", R"([{"command":"help","help":"list commands"},)"
                           R"({"command":"stats","help":"per-core\ncounters"}])"),
            "COMMAND  HELP\n"
            "help     list commands\n"
            "stats    per-core counters\n");
}

TEST(Render, GenericOtherShapes) {
  EXPECT_EQ(render("x", "null"), "");
  EXPECT_EQ(render("x", "[]"), "(none)\n");
  EXPECT_EQ(render("x", R"(["a",2,true])"), "a\n2\ntrue\n");
  EXPECT_EQ(render("x", R"("just text")"), "just text\n");
  EXPECT_EQ(render("x", "1.5"), "1.5\n");
  EXPECT_EQ(render("x", R"({"a":1,"long_key":{"n":[1]},"f":false})"),
            "a: 1\nf: false\n\nlong_key:\n  n: 1\n");
  EXPECT_FALSE(render_result("x", "{bad"));
}

// A status object with nested lists (cellctl smsc): scalars first, then each list as its own
// table under its name, never raw JSON.
TEST(Render, NestedValuesAsTables) {
  EXPECT_EQ(render("smsc", R"({"socket":"state/smsc.sock","submits":3,"roles":[],)"
                           R"("queues":[{"core":0,"queue":"imsi-lookup","depth":2},)"
                           R"({"core":1,"queue":"peer","depth":0}],"tags":["a","b"],"active":2})"),
            "socket:  state/smsc.sock\n"
            "submits: 3\n"
            "roles:   (none)\n"
            "tags:    a, b\n"
            "active:  2\n"
            "\n"
            "queues:\n"
            "  CORE  QUEUE        DEPTH\n"
            "     0  imsi-lookup      2\n"
            "     1  peer             0\n");
}

TEST(Render, Table) {
  const std::vector<std::string> headers{"A", "NUMBER"};
  const std::vector<std::vector<std::string>> rows{{"xyz", "1"}, {"", "12345678"}};
  EXPECT_EQ(render_table(headers, rows, {false, true}),
            "A      NUMBER\n"
            "xyz         1\n"
            "     12345678\n");
}

TEST(Render, Duration) {
  EXPECT_EQ(format_duration_s(0), "0s");
  EXPECT_EQ(format_duration_s(59), "59s");
  EXPECT_EQ(format_duration_s(3725), "1h 2m 5s");
  EXPECT_EQ(format_duration_s(86400), "1d 0h 0m 0s");
}

Result<CommandLine, std::string> parse(std::vector<std::string> words) {
  return parse_command_words(words);
}

TEST(CommandWords, JoinedWithDots) {
  auto line = parse({"remsim", "slotmaps", "list"});
  ASSERT_TRUE(line) << line.error();
  EXPECT_EQ(line->cmd, "remsim.slotmaps.list");
  EXPECT_TRUE(line->args.empty());

  line = parse({"config", "show"});
  EXPECT_EQ(line->cmd, "config.show");
  line = parse({"config.show"});
  EXPECT_EQ(line->cmd, "config.show");
}

TEST(CommandWords, KeyValueArguments) {
  auto line = parse({"remsim", "slotmaps", "add", "bank=1", "slot=2", "note=a=b", "empty="});
  ASSERT_TRUE(line) << line.error();
  EXPECT_EQ(line->cmd, "remsim.slotmaps.add");
  const std::vector<std::pair<std::string, std::string>> expected{
      {"bank", "1"}, {"slot", "2"}, {"note", "a=b"}, {"empty", ""}};
  EXPECT_EQ(line->args, expected);
}

TEST(CommandWords, Positionals) {
  auto line = parse({"log-level", "debug"});
  ASSERT_TRUE(line) << line.error();
  EXPECT_EQ(line->cmd, "log-level");
  ASSERT_EQ(line->args.size(), 1u);
  EXPECT_EQ(line->args[0], (std::pair<std::string, std::string>{"level", "debug"}));

  line = parse({"log-level"});
  EXPECT_TRUE(line->args.empty());
  line = parse({"log-level", "level=warn"});
  EXPECT_EQ(line->args[0].second, "warn");
  EXPECT_FALSE(parse({"log-level", "debug", "info"}));

  line = parse({"help", "remsim", "slotmaps"});
  ASSERT_TRUE(line);
  EXPECT_EQ(line->cmd, "help");
  EXPECT_EQ(line->args[0], (std::pair<std::string, std::string>{"prefix", "remsim.slotmaps"}));
}

TEST(CommandWords, Errors) {
  EXPECT_EQ(parse({}).error(), "no command given (try: cellctl help)");
  EXPECT_FALSE(parse({"a=b"}));
  EXPECT_FALSE(parse({"stats", "x=1", "more"}));
  EXPECT_FALSE(parse({"stats", "=1"}));
  EXPECT_FALSE(parse({"stats", "a b=1"}));
  EXPECT_FALSE(parse({"stats", "x=1", "x=2"}));
  EXPECT_FALSE(parse({"bad word"}));
  EXPECT_FALSE(parse({"a..b"}));
}

}  // namespace
}  // namespace cp::ctl
