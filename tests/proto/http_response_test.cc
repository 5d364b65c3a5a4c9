// Response encoding: exact bytes of status line and fields, HEAD/204/101 rules, headroom
// writer, header injection refused, JSON error bodies.
#include "proto/http/http_response.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace cp::proto::http {
namespace {

std::string as_string(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

TEST(HttpResponse, EncodesHeadAndBody) {
  std::vector<std::byte> out(256);
  const HttpHeader extra[] = {{"X-Request-Id", "7"}};
  HttpResponseHead head{.status = 200,
                        .content_type = "application/json",
                        .keep_alive = true,
                        .extra_headers = extra};
  auto n = encode_response(head, "{}", out);
  ASSERT_TRUE(n);
  EXPECT_EQ(as_string({out.data(), *n}),
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
            "Connection: keep-alive\r\nX-Request-Id: 7\r\n\r\n{}");
}

TEST(HttpResponse, NoBodyStatuses) {
  std::vector<std::byte> out(256);
  auto n = encode_response({.status = 204, .keep_alive = false}, "ignored", out);
  ASSERT_TRUE(n);
  EXPECT_EQ(as_string({out.data(), *n}), "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
  const HttpHeader upgrade[] = {{"Upgrade", "websocket"}, {"Connection", "Upgrade"}};
  n = encode_response({.status = 101, .extra_headers = upgrade}, "", out);
  ASSERT_TRUE(n);
  EXPECT_EQ(
      as_string({out.data(), *n}),
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
}

TEST(HttpResponse, RefusesBadInput) {
  std::vector<std::byte> out(64);
  const HttpHeader injected[] = {{"X-A", "1\r\nSet-Cookie: x"}};
  EXPECT_EQ(encode_response({.extra_headers = injected}, "", out).error(),
            HttpEncodeError::bad_header);
  const HttpHeader bad_name[] = {{"X A", "1"}};
  EXPECT_EQ(encode_response({.extra_headers = bad_name}, "", out).error(),
            HttpEncodeError::bad_header);
  EXPECT_EQ(encode_response({.status = 42}, "", out).error(), HttpEncodeError::bad_status);
  EXPECT_EQ(encode_response({}, std::string(64, 'x'), out).error(), HttpEncodeError::no_room);
}

TEST(HttpResponse, ReasonPhrases) {
  EXPECT_EQ(reason_phrase(200), "OK");
  EXPECT_EQ(reason_phrase(413), "Content Too Large");
  EXPECT_EQ(reason_phrase(414), "URI Too Long");
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(reason_phrase(501), "Not Implemented");
  EXPECT_EQ(reason_phrase(599), "");
}

TEST(HttpResponse, JsonErrorBodyEscapes) {
  char out[64];
  auto n = encode_json_error_body("bad \"id\"\\\n\x01", out);
  ASSERT_TRUE(n);
  EXPECT_EQ(std::string_view(out, *n), R"({"error":"bad \"id\"\\\n\u0001"})");
  char small[8];
  EXPECT_EQ(encode_json_error_body("too long", small).error(), HttpEncodeError::no_room);
}

TEST(HttpResponse, ErrorResponse) {
  std::vector<std::byte> out(256);
  auto n = encode_error_response(404, "not found", false, out);
  ASSERT_TRUE(n);
  EXPECT_EQ(as_string({out.data(), *n}),
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 21\r\n"
            "Connection: close\r\n\r\n{\"error\":\"not found\"}");
}

TEST(HttpResponseWriter, PrependsTheHeadToTheBody) {
  std::vector<std::byte> buffer(1024);
  HttpResponseWriter w(buffer, 512);
  w.append("hello ");
  ASSERT_TRUE(w.add_header("X-One", "1"));
  w.set_status(201);
  w.append("world");
  ASSERT_TRUE(w.set_content_type("text/plain"));
  ASSERT_TRUE(w.add_header("X-Two", "2"));
  auto r = w.finish();
  ASSERT_TRUE(r);
  EXPECT_EQ(as_string(*r),
            "HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n"
            "Connection: keep-alive\r\nX-One: 1\r\nX-Two: 2\r\n\r\nhello world");
  // The body was written in place: the response ends exactly at the end of the body.
  EXPECT_EQ(r->data() + r->size(), buffer.data() + 512 + 11);
  EXPECT_EQ(w.finish().error(), HttpEncodeError::finished);
}

TEST(HttpResponseWriter, HeadOmitsTheBodyButKeepsItsLength) {
  std::vector<std::byte> buffer(1024);
  HttpResponseWriter w(buffer, 512);
  w.set_omit_body(true);
  w.set_keep_alive(false);
  w.append("12345");
  auto r = w.finish();
  ASSERT_TRUE(r);
  EXPECT_EQ(as_string(*r), "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n");
}

TEST(HttpResponseWriter, OverflowAndResetAndErrors) {
  std::vector<std::byte> buffer(512 + 16);
  HttpResponseWriter w(buffer, 512);
  EXPECT_TRUE(w.append("0123456789"));
  EXPECT_FALSE(w.append("0123456789"));
  EXPECT_TRUE(w.failed());
  EXPECT_EQ(w.finish().error(), HttpEncodeError::no_room);
  w.reset();
  EXPECT_FALSE(w.failed());
  EXPECT_FALSE(w.add_header("X", std::string(400, 'x')));  // beyond the headroom left for extras
  w.reset();
  EXPECT_FALSE(w.add_header("X", "a\nb"));
  EXPECT_TRUE(w.failed());
  w.reset();
  EXPECT_FALSE(w.set_content_type(std::string(200, 't')));
  w.reset();
  ASSERT_TRUE(w.set_error(400, "nope"));
  auto r = w.finish();
  ASSERT_TRUE(r);
  EXPECT_EQ(as_string(*r),
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 16\r\n"
            "Connection: keep-alive\r\n\r\n{\"error\":\"nope\"}");
}

TEST(HttpResponseWriter, FillsTheHeadroomExactly) {
  std::vector<std::byte> buffer(300 + 8);
  HttpResponseWriter w(buffer, 300);
  // Extras may use headroom - kFixedHeadBytesMax - 2 = 42 bytes: "X: " + 37 + CRLF.
  ASSERT_TRUE(w.add_header("X", std::string(37, 'v')));
  EXPECT_FALSE(w.add_header("Y", ""));
  w.reset();
  ASSERT_TRUE(w.add_header("X", std::string(37, 'v')));
  w.append("body");
  auto r = w.finish();
  ASSERT_TRUE(r);
  EXPECT_TRUE(as_string(*r).ends_with("X: " + std::string(37, 'v') + "\r\n\r\nbody"));
}

}  // namespace
}  // namespace cp::proto::http
