// The control protocol codec: framing (split at every offset, every truncation, oversize),
// request decoding (bad JSON, wrong types, every byte flipped), responses, and JsonWriter.
#include "ctl/control_protocol.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "base/byte_reader.h"

namespace cp::ctl {
namespace {

std::string frame_of(std::string_view body) {
  std::string out(4, '\0');
  put_u32(reinterpret_cast<std::byte*>(out.data()), static_cast<uint32_t>(body.size()));
  out += body;
  return out;
}

Result<ControlRequest, DecodeError> decode(std::string_view body, DecodeScratch& scratch) {
  return decode_request(as_bytes(body), scratch);
}

DecodeError decode_fails(std::string_view body) {
  DecodeScratch scratch;
  auto r = decode(body, scratch);
  EXPECT_FALSE(r.has_value()) << "accepted: " << body;
  return r ? DecodeError{ProtocolError::bad_response, 0, ""} : r.error();
}

// ---- framing ----------------------------------------------------------------------------------

TEST(Frame, Length) {
  const std::string f = frame_of("{}");
  for (size_t n = 0; n < 4; ++n) EXPECT_EQ(frame_length(as_bytes(f).first(n)).value(), 0u);
  EXPECT_EQ(frame_length(as_bytes(f)).value(), 6u);
  EXPECT_EQ(frame_length(as_bytes(f).first(5)).value(), 6u);  // known before it is complete
  EXPECT_EQ(frame_length(as_bytes(frame_of(""))).error(), ProtocolError::frame_empty);
}

TEST(Frame, Oversize) {
  std::string header(4, '\0');
  put_u32(reinterpret_cast<std::byte*>(header.data()), kFrameBodyBytesMax);
  EXPECT_EQ(frame_length(as_bytes(header)).value(), kFrameBodyBytesMax + 4);
  put_u32(reinterpret_cast<std::byte*>(header.data()), kFrameBodyBytesMax + 1);
  EXPECT_EQ(frame_length(as_bytes(header)).error(), ProtocolError::frame_too_large);
  header = "\xff\xff\xff\xff";
  EXPECT_EQ(frame_length(as_bytes(header)).error(), ProtocolError::frame_too_large);
}

// Splits the stream into frames the way a receiver does, fed in two pieces cut at `cut`.
std::vector<std::string> reassemble(std::string_view stream, size_t cut) {
  std::vector<std::string> bodies;
  std::string buffer;
  for (std::string_view piece : {stream.substr(0, cut), stream.substr(cut)}) {
    buffer += piece;
    for (;;) {
      const auto length = frame_length(as_bytes(buffer));
      EXPECT_TRUE(length.has_value());
      if (!length || *length == 0 || *length > buffer.size()) break;
      bodies.emplace_back(as_chars(frame_body(as_bytes(buffer), *length)));
      buffer.erase(0, *length);
    }
  }
  EXPECT_TRUE(buffer.empty());
  return bodies;
}

TEST(Frame, SplitAtEveryOffset) {
  std::string stream;
  const std::pair<std::string, std::string> args[] = {{"level", "debug"}, {"x", "\"y\"\n"}};
  ASSERT_TRUE(encode_request(1, "status", {}, stream));
  ASSERT_TRUE(encode_request(2, "log-level", args, stream));
  ASSERT_TRUE(encode_request(3, "remsim.slotmaps.list", {}, stream));
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    const auto bodies = reassemble(stream, cut);
    ASSERT_EQ(bodies.size(), 3u) << "cut at " << cut;
    DecodeScratch scratch;
    const char* cmds[] = {"status", "log-level", "remsim.slotmaps.list"};
    for (size_t i = 0; i < 3; ++i) {
      auto r = decode(bodies[i], scratch);
      ASSERT_TRUE(r) << r.error().message;
      EXPECT_EQ(r->id, i + 1);
      EXPECT_EQ(r->cmd, cmds[i]);
    }
  }
}

TEST(Frame, EveryTruncation) {
  std::string frame;
  const std::pair<std::string, std::string> args[] = {{"level", "debug"}};
  ASSERT_TRUE(encode_request(9, "log-level", args, frame));
  DecodeScratch scratch;
  for (size_t n = 0; n < frame.size(); ++n) {
    const auto length = frame_length(as_bytes(frame).first(n));
    ASSERT_TRUE(length);
    EXPECT_TRUE(*length == 0 || *length > n) << n;  // never complete early
    if (n > 4) {
      // The truncated body itself never decodes: it is not a whole JSON object.
      EXPECT_FALSE(decode(std::string_view(frame).substr(4, n - 4), scratch)) << n;
    }
  }
  EXPECT_TRUE(decode(std::string_view(frame).substr(4), scratch));
}

// ---- requests ---------------------------------------------------------------------------------

TEST(Request, Decodes) {
  DecodeScratch scratch;
  auto r = decode(R"({"id":42,"cmd":"remsim.slotmaps.add","args":)"
                  R"({"bank":"1","slot":7,"ratio":0.5,"force":true,"name":"caf\u00e9 \"x\""}})",
                  scratch);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->id, 42u);
  EXPECT_EQ(r->cmd, "remsim.slotmaps.add");
  ASSERT_EQ(r->args.size(), 5u);
  EXPECT_EQ(r->args[1].kind, ControlArg::Kind::integer);
  EXPECT_EQ(r->args[2].kind, ControlArg::Kind::real);
  EXPECT_EQ(r->args[2].real, 0.5);
  EXPECT_EQ(r->string_arg("name").value(), "caf\xc3\xa9 \"x\"");
  EXPECT_EQ(r->int_arg("bank").value(), 1);  // strings are accepted for numbers
  EXPECT_EQ(r->int_arg("slot").value(), 7);
  EXPECT_TRUE(r->bool_arg("force").value());
  EXPECT_EQ(r->int_arg("name").error(), "argument 'name' must be an integer");
  EXPECT_EQ(r->string_arg("slot").error(), "argument 'slot' must be a string");
  EXPECT_EQ(r->string_arg("nope").error(), "missing argument 'nope'");
  EXPECT_EQ(r->bool_arg("name").error(), "argument 'name' must be true or false");
  EXPECT_TRUE(r->bool_arg("bank").value());  // "1
  EXPECT_FALSE(r->has("nope"));

  auto bare = decode(R"({"cmd":"stats","id":18446744073709551615})", scratch);
  ASSERT_TRUE(bare) << bare.error().message;
  EXPECT_EQ(bare->id, std::numeric_limits<uint64_t>::max());
  EXPECT_TRUE(bare->args.empty());
}

TEST(Request, BadJson) {
  for (const char* body :
       {"", "{", "}", "{\"id\":1,", "nul", "{\"id\":1 \"cmd\":\"x\"}", "{\"id\":1,\"cmd\":\"x\"}}",
        "\xff\xfe", "{\"id\":1,\"cmd\":\"\xc3\"}"}) {
    const DecodeError e = decode_fails(body);
    EXPECT_TRUE(e.error == ProtocolError::bad_json || e.error == ProtocolError::frame_empty)
        << body << ": " << e.message;
  }
}

TEST(Request, WrongShapes) {
  struct Case {
    const char* body;
    ProtocolError error;
    uint64_t id;
    const char* message_part;
  };
  const Case cases[] = {
      {"[1,2]", ProtocolError::not_an_object, 0, "JSON object"},
      {"\"stats\"", ProtocolError::not_an_object, 0, "JSON object"},
      {R"({"cmd":"stats"})", ProtocolError::bad_id, 0, "missing field \"id\""},
      {R"({"id":"1","cmd":"stats"})", ProtocolError::bad_id, 0, "unsigned 64-bit"},
      {R"({"id":-1,"cmd":"stats"})", ProtocolError::bad_id, 0, "unsigned"},
      {R"({"id":1.5,"cmd":"stats"})", ProtocolError::bad_id, 0, "unsigned"},
      {R"({"id":18446744073709551616,"cmd":"s"})", ProtocolError::bad_json, 0, "JSON"},
      {R"({"id":3})", ProtocolError::bad_cmd, 3, "missing field \"cmd\""},
      {R"({"id":3,"cmd":5})", ProtocolError::bad_cmd, 3, "cmd must be a string"},
      {R"({"id":3,"cmd":""})", ProtocolError::bad_cmd, 3, "dotted name"},
      {R"({"id":3,"cmd":"a..b"})", ProtocolError::bad_cmd, 3, "dotted name"},
      {R"({"id":3,"cmd":".a"})", ProtocolError::bad_cmd, 3, "dotted name"},
      {R"({"id":3,"cmd":"a."})", ProtocolError::bad_cmd, 3, "dotted name"},
      {R"({"id":3,"cmd":"a b"})", ProtocolError::bad_cmd, 3, "dotted name"},
      {R"({"id":3,"cmd":"st\u00e4ts"})", ProtocolError::bad_cmd, 3, "dotted name"},
      {R"({"id":4,"cmd":"x","args":[]})", ProtocolError::bad_args, 4, "args must be an object"},
      {R"({"id":4,"cmd":"x","args":"a=b"})", ProtocolError::bad_args, 4, "object"},
      {R"({"id":4,"cmd":"x","args":{"a":null}})", ProtocolError::bad_arg_value, 4,
       "argument \"a\" must be a string, number or boolean"},
      {R"({"id":4,"cmd":"x","args":{"a":[1]}})", ProtocolError::bad_arg_value, 4, "\"a\""},
      {R"({"id":4,"cmd":"x","args":{"a":{}}})", ProtocolError::bad_arg_value, 4, "\"a\""},
      {R"({"id":4,"cmd":"x","args":{"a":18446744073709551615}})", ProtocolError::bad_arg_value, 4,
       "64-bit range"},
      {R"({"id":4,"cmd":"x","args":{"":1}})", ProtocolError::bad_args, 4, "empty argument"},
      {R"({"id":5,"cmd":"x","args":{"a":1,"a":2}})", ProtocolError::duplicate_field, 5,
       "argument \"a\" given twice"},
      {R"({"id":5,"id":6,"cmd":"x"})", ProtocolError::duplicate_field, 5, "\"id\" given twice"},
      {R"({"id":5,"cmd":"x","cmd":"y"})", ProtocolError::duplicate_field, 5, "given twice"},
      {R"({"id":6,"cmd":"x","verbose":true})", ProtocolError::unknown_field, 6,
       "unknown field \"verbose\""},
      {R"({"cmd":"x","id":7,"extra":1})", ProtocolError::unknown_field, 7, "unknown field"},
  };
  for (const Case& c : cases) {
    const DecodeError e = decode_fails(c.body);
    EXPECT_EQ(e.error, c.error) << c.body << ": " << e.message;
    EXPECT_EQ(e.id, c.id) << c.body;
    EXPECT_NE(e.message.find(c.message_part), std::string::npos) << c.body << ": " << e.message;
  }
}

TEST(Request, ArgumentLimit) {
  std::string body = R"({"id":1,"cmd":"x","args":{)";
  for (size_t i = 0; i < kArgsMax; ++i)
    body += (i ? "," : "") + ("\"k" + std::to_string(i) + "\":1");
  DecodeScratch scratch;
  ASSERT_TRUE(decode(body + "}}", scratch));
  const DecodeError e = decode_fails(body + ",\"one_more\":1}}");
  EXPECT_EQ(e.error, ProtocolError::bad_args);
  EXPECT_NE(e.message.find("more than 32"), std::string::npos);
}

TEST(Request, LongCommandName) {
  const std::string name(kCommandNameBytesMax, 'a');
  DecodeScratch scratch;
  EXPECT_TRUE(decode(R"({"id":1,"cmd":")" + name + "\"}", scratch));
  EXPECT_EQ(decode_fails(R"({"id":1,"cmd":")" + name + "a\"}").error, ProtocolError::bad_cmd);
}

TEST(Request, OversizeBody) {
  std::string body(kFrameBodyBytesMax + 1, ' ');
  EXPECT_EQ(decode_fails(body).error, ProtocolError::frame_too_large);
  body.resize(kFrameBodyBytesMax);
  const std::string request = R"({"id":1,"cmd":"x"})";
  body.replace(0, request.size(), request);
  DecodeScratch scratch;
  EXPECT_TRUE(decode(body, scratch));  // exactly 1 MiB, mostly trailing white space
}

// Every byte of a request through all 256 values: decoding must never crash or read out of
// bounds (the sanitizer build checks), whatever it returns.
TEST(Request, EveryByteFlipped) {
  std::string frame;
  const std::pair<std::string, std::string> args[] = {{"level", "d\xc3\xa9"}, {"n", "1"}};
  ASSERT_TRUE(encode_request(77, "log-level", args, frame));
  const std::string body = frame.substr(4);
  DecodeScratch scratch;
  size_t accepted = 0;
  for (size_t i = 0; i < body.size(); ++i) {
    std::string mutated = body;
    for (int v = 0; v < 256; ++v) {
      mutated[i] = static_cast<char>(v);
      auto r = decode(mutated, scratch);
      if (r) {
        ++accepted;
        EXPECT_TRUE(valid_command_name(r->cmd));
      }
    }
  }
  EXPECT_GT(accepted, body.size());  // at least the unchanged byte each time
}

// ---- responses --------------------------------------------------------------------------------

ControlResponse response_from_frame(const std::string& frame) {
  const auto length = frame_length(as_bytes(frame));
  EXPECT_TRUE(length && *length == frame.size());
  auto r = decode_response(frame_body(as_bytes(frame), frame.size()));
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r ? *r : ControlResponse{};
}

TEST(Response, OkAndError) {
  std::string frame;
  encode_ok_response(5, R"({"a":[1,2,{"b":null}],"s":"x\"y"})", frame);
  ControlResponse ok = response_from_frame(frame);
  EXPECT_EQ(ok.id, 5u);
  EXPECT_TRUE(ok.ok);
  EXPECT_EQ(ok.result_json, R"({"a":[1,2,{"b":null}],"s":"x\"y"})");

  frame.clear();
  encode_ok_response(6, "", frame);
  EXPECT_EQ(response_from_frame(frame).result_json, "null");

  frame.clear();
  encode_error_response(7, error_code::unknown_command, "no such \"cmd\"\n", frame);
  ControlResponse err = response_from_frame(frame);
  EXPECT_EQ(err.id, 7u);
  EXPECT_FALSE(err.ok);
  EXPECT_EQ(err.error, "no such \"cmd\"\n");
  EXPECT_EQ(err.code, "unknown_command");
}

TEST(Response, ResultTooLarge) {
  const std::string big = "\"" + std::string(kFrameBodyBytesMax, 'x') + "\"";
  std::string frame;
  encode_ok_response(8, big, frame);
  ControlResponse r = response_from_frame(frame);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.code, error_code::result_too_large);
}

TEST(Response, Malformed) {
  EXPECT_EQ(decode_response(as_bytes(std::string_view("{}"))).error().error,
            ProtocolError::bad_response);
  EXPECT_EQ(decode_response(as_bytes(std::string_view(R"({"id":1})"))).error().error,
            ProtocolError::bad_response);
  EXPECT_EQ(decode_response(as_bytes(std::string_view("[1]"))).error().error,
            ProtocolError::not_an_object);
  EXPECT_EQ(decode_response(as_bytes(std::string_view("{"))).error().error,
            ProtocolError::bad_json);
  auto lenient = decode_response(as_bytes(std::string_view(R"({"id":1,"ok":false,"x":2})")));
  ASSERT_TRUE(lenient);
  EXPECT_EQ(lenient->error, "(no error message)");
}

// ---- JsonWriter -------------------------------------------------------------------------------

std::string json_string(std::string_view text) {
  std::string out;
  append_json_string(text, out);
  return out;
}

TEST(JsonWriter, Escaping) {
  EXPECT_EQ(json_string("plain"), "\"plain\"");
  EXPECT_EQ(json_string("a\"b\\c/d"), R"("a\"b\\c/d")");
  EXPECT_EQ(json_string("\b\f\n\r\t"), R"("\b\f\n\r\t")");
  EXPECT_EQ(json_string(std::string_view("\x00\x01\x1f\x7f", 4)), "\"\\u0000\\u0001\\u001f\x7f\"");
  EXPECT_EQ(json_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
}

TEST(JsonWriter, InvalidUtf8BecomesReplacementCharacter) {
  EXPECT_EQ(json_string("\x80"), R"("\ufffd")");
  EXPECT_EQ(json_string("a\xc0\x80z"), R"("a\ufffd\ufffdz")");                  // overlong
  EXPECT_EQ(json_string("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");            // surrogate
  EXPECT_EQ(json_string("\xe2\x82"), R"("\ufffd\ufffd")");                      // truncated
  EXPECT_EQ(json_string("\xf5\x80\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd")");  // > U+10FFFF
  EXPECT_EQ(json_string("\xf4\x90\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd")");
  EXPECT_EQ(json_string("\xe0\x9f\xbf"), R"("\ufffd\ufffd\ufffd")");  // overlong 3-byte
}

// Whatever bytes go in, the output is valid JSON whose valid UTF-8 content survives unchanged.
TEST(JsonWriter, RandomBytesAlwaysDecode) {
  std::mt19937 rng(1234);
  DecodeScratch scratch;
  for (int round = 0; round < 2000; ++round) {
    std::string text(rng() % 24, '\0');
    for (char& c : text) c = static_cast<char>(rng() % 256);
    JsonWriter w;
    w.begin_object().field("id", 1).field("cmd", "x").key("args").begin_object();
    w.field("s", text).end_object().end_object();
    auto r = decode(w.view(), scratch);
    ASSERT_TRUE(r) << r.error().message << " for " << w.view();
  }
  JsonWriter w;
  const std::string every_ascii = [] {
    std::string s;
    for (int c = 0; c < 128; ++c) s.push_back(static_cast<char>(c));
    return s;
  }();
  w.begin_object().field("id", 1).field("cmd", "x").key("args").begin_object();
  w.field("s", every_ascii).end_object().end_object();
  auto r = decode(w.view(), scratch);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->string_arg("s").value(), every_ascii);
}

TEST(JsonWriter, Structure) {
  JsonWriter w;
  EXPECT_FALSE(w.complete());
  w.begin_object()
      .field("a", 1)
      .field("b", "two")
      .key("c")
      .begin_array()
      .number(int64_t{-9223372036854775807LL - 1})
      .number(uint64_t{18446744073709551615ULL})
      .number(1.5)
      .number(std::nan(""))
      .boolean(false)
      .null()
      .begin_object()
      .end_object()
      .begin_array()
      .end_array()
      .end_array()
      .field("d", true)
      .field("e", 0.25)
      .key("f")
      .raw(R"({"x":1})")
      .end_object();
  EXPECT_TRUE(w.complete());
  EXPECT_EQ(w.view(), R"({"a":1,"b":"two","c":[-9223372036854775808,18446744073709551615,1.5,null,)"
                      R"(false,null,{},[]],"d":true,"e":0.25,"f":{"x":1}})");
  w.clear();
  EXPECT_TRUE(w.empty());
  w.begin_array().string("x").end_array();
  EXPECT_EQ(w.view(), R"(["x"])");
}

TEST(JsonWriter, ScalarRootAndExternalBuffer) {
  std::string buffer = "prefix:";
  JsonWriter w(buffer);
  EXPECT_TRUE(w.empty());
  w.number(42u);
  EXPECT_TRUE(w.complete());
  EXPECT_EQ(w.view(), "42");
  EXPECT_EQ(buffer, "prefix:42");
  w.clear();
  EXPECT_EQ(buffer, "prefix:");
}

}  // namespace
}  // namespace cp::ctl
