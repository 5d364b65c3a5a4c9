// CommandRegistry: registration rules, dispatch to handlers, the error codes, built-in help.
#include <gtest/gtest.h>

#include "base/byte_reader.h"
#include "ctl/control_server.h"

namespace cp::ctl {
namespace {

// Runs `body` through decode_request + dispatch and decodes the response frame.
ControlResponse run(const CommandRegistry& registry, std::string_view body) {
  DecodeScratch scratch;
  auto request = decode_request(as_bytes(body), scratch);
  EXPECT_TRUE(request) << request.error().message;
  if (!request) return {};
  JsonWriter result;
  std::string frame;
  registry.dispatch(*request, result, frame);
  const auto length = frame_length(as_bytes(frame));
  EXPECT_TRUE(length && *length == frame.size());
  auto response = decode_response(frame_body(as_bytes(frame), frame.size()));
  EXPECT_TRUE(response);
  return response ? *response : ControlResponse{};
}

TEST(CommandRegistry, AddRules) {
  CommandRegistry r;
  auto noop = [](const ControlRequest&, JsonWriter&) -> Result<void, std::string> { return {}; };
  EXPECT_TRUE(r.add("stats", "per-core counters", noop));
  EXPECT_TRUE(r.add("remsim.slotmaps.list", "slot maps", noop));
  EXPECT_TRUE(r.add("log-level", "log level", noop));
  EXPECT_EQ(r.add("stats", "again", noop).error(), "command 'stats' is already registered");
  EXPECT_EQ(r.add("help", "again", noop).error(), "command 'help' is already registered");
  EXPECT_FALSE(r.add("", "x", noop));
  EXPECT_FALSE(r.add("a..b", "x", noop));
  EXPECT_FALSE(r.add("with space", "x", noop));
  EXPECT_FALSE(r.add("nohandler", "x", nullptr));
  ASSERT_EQ(r.commands().size(), 4u);
  EXPECT_EQ(r.commands()[0].name, "help");  // sorted
  EXPECT_EQ(r.commands()[1].name, "log-level");
  EXPECT_EQ(r.commands()[3].name, "stats");
  EXPECT_NE(r.find("remsim.slotmaps.list"), nullptr);
  EXPECT_EQ(r.find("remsim.slotmaps"), nullptr);
}

TEST(CommandRegistry, Dispatch) {
  CommandRegistry r;
  ASSERT_TRUE(r.add("echo", "echoes its args", [](const ControlRequest& req, JsonWriter& out) {
    out.begin_object();
    for (const ControlArg& a : req.args) out.field(a.key, a.text);
    out.end_object();
    return Result<void, std::string>{};
  }));
  ASSERT_TRUE(r.add("fail", "always fails", [](const ControlRequest& req, JsonWriter&) {
    auto n = req.int_arg("n");
    if (!n) return Result<void, std::string>(fail(n.error()));
    return Result<void, std::string>(fail(std::string("no")));
  }));
  ASSERT_TRUE(r.add("quiet", "writes nothing", [](const ControlRequest&, JsonWriter&) {
    return Result<void, std::string>{};
  }));
  ASSERT_TRUE(r.add("broken", "unbalanced", [](const ControlRequest&, JsonWriter& out) {
    out.begin_object().key("a");
    return Result<void, std::string>{};
  }));

  ControlResponse echo = run(r, R"({"id":11,"cmd":"echo","args":{"k":"v\u0001"}})");
  EXPECT_EQ(echo.id, 11u);
  EXPECT_TRUE(echo.ok);
  EXPECT_EQ(echo.result_json, R"({"k":"v\u0001"})");

  ControlResponse missing = run(r, R"({"id":12,"cmd":"fail"})");
  EXPECT_FALSE(missing.ok);
  EXPECT_EQ(missing.code, "command_failed");
  EXPECT_EQ(missing.error, "missing argument 'n'");

  ControlResponse no = run(r, R"({"id":13,"cmd":"fail","args":{"n":"3"}})");
  EXPECT_EQ(no.error, "no");

  ControlResponse quiet = run(r, R"({"id":14,"cmd":"quiet"})");
  EXPECT_TRUE(quiet.ok);
  EXPECT_EQ(quiet.result_json, "null");

  ControlResponse unknown = run(r, R"({"id":15,"cmd":"nope.nothing"})");
  EXPECT_FALSE(unknown.ok);
  EXPECT_EQ(unknown.id, 15u);
  EXPECT_EQ(unknown.code, "unknown_command");
  EXPECT_NE(unknown.error.find("'nope.nothing'"), std::string::npos);
}

TEST(CommandRegistry, IncompleteResultIsAnInternalError) {
  CommandRegistry r;
  ASSERT_TRUE(r.add("broken", "unbalanced", [](const ControlRequest&, JsonWriter& out) {
    out.begin_array().number(1);
    return Result<void, std::string>{};
  }));
  ControlResponse broken = run(r, R"({"id":16,"cmd":"broken"})");
  EXPECT_FALSE(broken.ok);
  EXPECT_EQ(broken.code, "internal");
  // The scratch writer is cleared for the next command.
  ControlResponse help = run(r, R"({"id":17,"cmd":"help"})");
  EXPECT_TRUE(help.ok);
}

TEST(CommandRegistry, Help) {
  CommandRegistry r;
  auto noop = [](const ControlRequest&, JsonWriter&) -> Result<void, std::string> { return {}; };
  ASSERT_TRUE(r.add("remsim.slotmaps.list", "list slot maps", noop));
  ASSERT_TRUE(r.add("remsim.slotmaps.add", "add a slot map", noop));
  ASSERT_TRUE(r.add("remsimx", "not under remsim", noop));
  ASSERT_TRUE(r.add("stats", "per-core \"counters\"", noop));

  ControlResponse all = run(r, R"({"id":1,"cmd":"help"})");
  ASSERT_TRUE(all.ok);
  EXPECT_EQ(all.result_json,
            R"J([{"command":"help","help":"list commands (prefix=NAME: only NAME and its )J"
            R"J(sub-commands)"},{"command":"remsim.slotmaps.add","help":"add a slot map"},)J"
            R"({"command":"remsim.slotmaps.list","help":"list slot maps"},)"
            R"({"command":"remsimx","help":"not under remsim"},)"
            R"({"command":"stats","help":"per-core \"counters\""}])");

  ControlResponse some = run(r, R"({"id":2,"cmd":"help","args":{"prefix":"remsim"}})");
  ASSERT_TRUE(some.ok);
  EXPECT_EQ(some.result_json, R"([{"command":"remsim.slotmaps.add","help":"add a slot map"},)"
                              R"({"command":"remsim.slotmaps.list","help":"list slot maps"}])");

  ControlResponse exact = run(r, R"({"id":3,"cmd":"help","args":{"prefix":"stats"}})");
  EXPECT_EQ(exact.result_json, R"([{"command":"stats","help":"per-core \"counters\""}])");

  ControlResponse none = run(r, R"({"id":4,"cmd":"help","args":{"prefix":"remsim.slot"}})");
  EXPECT_FALSE(none.ok);
  EXPECT_EQ(none.error, "no command matches 'remsim.slot'");
}

}  // namespace
}  // namespace cp::ctl
