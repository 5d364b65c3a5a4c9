// HttpRequestParser: fields of real requests (the curl requests of the remsim REST transcript,
// shared/vectors/remsim-rest-osmo-remsim-1.1.3.txt), the stream split at every offset, every
// truncation, every byte flipped through all 256 values, limits -> 413/414/431, errors -> 400/
// 501/505, pipelining, keep-alive rules of HTTP/1.0 and 1.1, upgrade and 100-continue.
#include "proto/http/http_request.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace cp::proto::http {
namespace {

// A parsed request copied out of the parser's arena, comparable across runs.
struct Summary {
  std::string method;
  std::string target;
  std::string path;
  std::string query;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool keep_alive = false;
  bool upgrade = false;
  bool operator==(const Summary&) const = default;
};

struct Outcome {
  std::vector<Summary> requests;
  uint16_t error_status = 0;
  bool ended_mid_request = false;  // the last feed left need_more
  bool operator==(const Outcome&) const = default;
};

Summary summarize(const HttpRequest& r) {
  Summary s{std::string(r.method_name),
            std::string(r.target),
            std::string(r.path),
            std::string(r.query),
            {},
            std::string(r.body),
            r.keep_alive,
            r.upgrade};
  for (const HttpHeader& h : r.headers) s.headers.emplace_back(h.name, h.value);
  return s;
}

// Feeds `stream` cut at `cuts` (increasing offsets), like reads from a socket would deliver it,
// resetting after every complete request (pipelining).
Outcome parse_pieces(HttpRequestParser& parser, std::string_view stream,
                     const std::vector<size_t>& cuts) {
  Outcome out;
  parser.reset();
  size_t begin = 0;
  for (size_t i = 0; i <= cuts.size(); ++i) {
    const size_t end = i < cuts.size() ? cuts[i] : stream.size();
    std::string_view piece = stream.substr(begin, end - begin);
    begin = end;
    out.ended_mid_request = false;
    while (!piece.empty()) {
      const HttpParseResult r = parser.feed(piece);
      EXPECT_LE(r.consumed_bytes, piece.size());
      piece.remove_prefix(r.consumed_bytes);
      if (r.state == HttpParseState::error) {
        out.error_status = parser.error().status;
        return out;
      }
      if (r.state == HttpParseState::need_more) {
        EXPECT_TRUE(piece.empty()) << "need_more must consume everything";
        out.ended_mid_request = true;
        break;
      }
      out.requests.push_back(summarize(parser.request()));
      parser.reset();
    }
  }
  return out;
}

Outcome parse_whole(HttpRequestParser& parser, std::string_view stream) {
  return parse_pieces(parser, stream, {});
}

const std::string kGetBanks =
    "GET /api/backend/v1/banks HTTP/1.1\r\n"
    "Host: 127.0.0.1:9997\r\n"
    "User-Agent: curl/7.88.1\r\n"
    "Accept: */*\r\n"
    "\r\n";

const std::string kPostSlotmap =
    "POST /api/backend/v1/slotmaps HTTP/1.1\r\n"
    "Host: 127.0.0.1:9997\r\n"
    "User-Agent: curl/7.88.1\r\n"
    "Accept: */*\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 68\r\n"
    "\r\n"
    R"({"bank":{"bankId":1,"slotNr":0},"client":{"clientId":23,"slotNr":0}})";

const std::string kChunked =
    "POST /upload?name=a%20b HTTP/1.1\r\n"
    "Host: x\r\n"
    "Transfer-Encoding: chunked\r\n"
    "\r\n"
    "5\r\nhello\r\n"
    "6;ext=1\r\n world\r\n"
    "0\r\n"
    "X-Trailer: done\r\n"
    "\r\n";

const std::string kDelete = "DELETE /api/backend/v1/slotmaps/65536 HTTP/1.1\r\nHost: h\r\n\r\n";

TEST(HttpRequestParser, ParsesCurlGet) {
  HttpRequestParser parser;
  const HttpParseResult r = parser.feed(kGetBanks);
  ASSERT_EQ(r.state, HttpParseState::complete);
  EXPECT_EQ(r.consumed_bytes, kGetBanks.size());
  const HttpRequest& req = parser.request();
  EXPECT_EQ(req.method, HttpMethod::get);
  EXPECT_EQ(req.method_name, "GET");
  EXPECT_EQ(req.target, "/api/backend/v1/banks");
  EXPECT_EQ(req.path, "/api/backend/v1/banks");
  EXPECT_EQ(req.query, "");
  EXPECT_EQ(req.version_major, 1);
  EXPECT_EQ(req.version_minor, 1);
  ASSERT_EQ(req.headers.size(), 3u);
  EXPECT_EQ(req.headers[1].name, "User-Agent");
  EXPECT_EQ(req.headers[1].value, "curl/7.88.1");
  EXPECT_EQ(req.header("HOST"), "127.0.0.1:9997");
  EXPECT_EQ(req.header("accept"), "*/*");
  EXPECT_FALSE(req.header("Content-Length").has_value());
  EXPECT_TRUE(req.body.empty());
  EXPECT_TRUE(req.keep_alive);
  EXPECT_FALSE(req.upgrade);
  // Complete: nothing more is consumed until reset().
  EXPECT_EQ(parser.feed(kGetBanks).consumed_bytes, 0u);
}

TEST(HttpRequestParser, ParsesBodyByContentLength) {
  HttpRequestParser parser;
  ASSERT_EQ(parser.feed(kPostSlotmap).state, HttpParseState::complete);
  const HttpRequest& req = parser.request();
  EXPECT_EQ(req.method, HttpMethod::post);
  EXPECT_EQ(req.header("content-type"), "application/json");
  EXPECT_EQ(req.body, R"({"bank":{"bankId":1,"slotNr":0},"client":{"clientId":23,"slotNr":0}})");
}

TEST(HttpRequestParser, DecodesChunkedBodyAndKeepsTrailers) {
  HttpRequestParser parser;
  ASSERT_EQ(parser.feed(kChunked).state, HttpParseState::complete);
  const HttpRequest& req = parser.request();
  EXPECT_EQ(req.body, "hello world");
  EXPECT_EQ(req.path, "/upload");
  EXPECT_EQ(req.query, "name=a%20b");
  EXPECT_EQ(req.header("x-trailer"), "done");
}

TEST(HttpRequestParser, SplitsTargets) {
  HttpRequestParser parser;
  struct Case {
    std::string request_line;
    std::string path;
    std::string query;
  };
  const Case cases[] = {
      {"GET /a/b?x=1&y=2 HTTP/1.1", "/a/b", "x=1&y=2"},
      {"GET /a?x=1#frag HTTP/1.1", "/a", "x=1"},
      {"GET http://example.org:80/p/q?z HTTP/1.1", "/p/q", "z"},
      {"GET http://example.org HTTP/1.1", "/", ""},
      {"OPTIONS * HTTP/1.1", "*", ""},
      {"GET /? HTTP/1.1", "/", ""},
  };
  for (const Case& c : cases) {
    parser.reset();
    ASSERT_EQ(parser.feed(c.request_line + "\r\nHost: h\r\n\r\n").state, HttpParseState::complete)
        << c.request_line;
    EXPECT_EQ(parser.request().path, c.path) << c.request_line;
    EXPECT_EQ(parser.request().query, c.query) << c.request_line;
  }
}

TEST(HttpRequestParser, MapsMethods) {
  HttpRequestParser parser;
  const std::pair<std::string, HttpMethod> cases[] = {
      {"GET", HttpMethod::get},        {"HEAD", HttpMethod::head},
      {"POST", HttpMethod::post},      {"PUT", HttpMethod::put},
      {"DELETE", HttpMethod::delete_}, {"OPTIONS", HttpMethod::options},
      {"PATCH", HttpMethod::patch},    {"PROPFIND", HttpMethod::other},
  };
  for (const auto& [name, method] : cases) {
    parser.reset();
    ASSERT_EQ(parser.feed(name + " /x HTTP/1.1\r\nHost: h\r\n\r\n").state,
              HttpParseState::complete);
    EXPECT_EQ(parser.request().method, method);
    EXPECT_EQ(parser.request().method_name, name);
  }
}

TEST(HttpRequestParser, KeepAliveRules) {
  HttpRequestParser parser;
  const std::pair<std::string, bool> cases[] = {
      {"GET / HTTP/1.1\r\n\r\n", true},
      {"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n", false},
      {"GET / HTTP/1.0\r\n\r\n", false},
      {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
      {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true},
  };
  for (const auto& [text, keep_alive] : cases) {
    parser.reset();
    ASSERT_EQ(parser.feed(text).state, HttpParseState::complete) << text;
    EXPECT_EQ(parser.request().keep_alive, keep_alive) << text;
  }
}

TEST(HttpRequestParser, HeaderTokens) {
  HttpRequestParser parser;
  ASSERT_EQ(parser
                .feed("GET / HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\n"
                      "Accept: a\r\nAccept: b , c\r\nEmpty:\r\n\r\n")
                .state,
            HttpParseState::complete);
  const HttpRequest& req = parser.request();
  EXPECT_TRUE(req.header_has_token("connection", "upgrade"));
  EXPECT_TRUE(req.header_has_token("Accept", "c"));
  EXPECT_FALSE(req.header_has_token("Accept", "d"));
  EXPECT_EQ(req.header("Empty"), "");
  EXPECT_EQ(req.headers.size(), 4u);
  EXPECT_EQ(req.headers[3].name, "Empty");
}

// The streams used by the split and truncation tests: single requests and pipelines.
std::vector<std::string> sample_streams() {
  return {kGetBanks,
          kPostSlotmap,
          kChunked,
          kDelete,
          kGetBanks + kPostSlotmap + kDelete,
          kChunked + "\r\n" + kGetBanks,  // a stray CRLF between requests is allowed
          "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.1\r\n\r\n"};
}

TEST(HttpRequestParser, SameResultAtEverySplitOffset) {
  HttpRequestParser parser;
  for (const std::string& stream : sample_streams()) {
    const Outcome whole = parse_whole(parser, stream);
    ASSERT_EQ(whole.error_status, 0) << stream;
    ASSERT_FALSE(whole.ended_mid_request);
    for (size_t cut = 1; cut < stream.size(); ++cut) {
      ASSERT_EQ(parse_pieces(parser, stream, {cut}), whole) << "cut at " << cut;
    }
  }
}

TEST(HttpRequestParser, SameResultAtEveryPairOfSplits) {
  HttpRequestParser parser;
  const std::string stream = kGetBanks + kChunked;
  const Outcome whole = parse_whole(parser, stream);
  ASSERT_EQ(whole.requests.size(), 2u);
  for (size_t a = 1; a < stream.size(); ++a) {
    for (size_t b = a + 1; b < stream.size(); ++b) {
      ASSERT_EQ(parse_pieces(parser, stream, {a, b}), whole) << a << "," << b;
    }
  }
}

TEST(HttpRequestParser, ByteByByte) {
  HttpRequestParser parser;
  for (const std::string& stream : sample_streams()) {
    std::vector<size_t> cuts;
    for (size_t i = 1; i < stream.size(); ++i) cuts.push_back(i);
    EXPECT_EQ(parse_pieces(parser, stream, cuts), parse_whole(parser, stream));
  }
}

TEST(HttpRequestParser, EveryTruncationNeedsMore) {
  HttpRequestParser parser;
  for (const std::string& stream : sample_streams()) {
    const Outcome full = parse_whole(parser, stream);
    for (size_t len = 0; len < stream.size(); ++len) {
      const Outcome o = parse_whole(parser, std::string_view(stream).substr(0, len));
      EXPECT_EQ(o.error_status, 0) << len;
      EXPECT_LT(o.requests.size(), full.requests.size()) << len;
      // A prefix never invents a request: what it completes is a prefix of the full result.
      for (size_t i = 0; i < o.requests.size(); ++i) EXPECT_EQ(o.requests[i], full.requests[i]);
    }
  }
}

TEST(HttpRequestParser, PipelinedRequestsReportConsumedBytes) {
  HttpRequestParser parser;
  const std::string stream = kGetBanks + kPostSlotmap + "GET /partial HTTP/1.1\r\nHo";
  std::string_view rest = stream;
  HttpParseResult r = parser.feed(rest);
  ASSERT_EQ(r.state, HttpParseState::complete);
  EXPECT_EQ(r.consumed_bytes, kGetBanks.size());
  rest.remove_prefix(r.consumed_bytes);
  parser.reset();
  r = parser.feed(rest);
  ASSERT_EQ(r.state, HttpParseState::complete);
  EXPECT_EQ(r.consumed_bytes, kPostSlotmap.size());
  EXPECT_EQ(parser.request().body.size(), 68u);
  rest.remove_prefix(r.consumed_bytes);
  parser.reset();
  r = parser.feed(rest);
  EXPECT_EQ(r.state, HttpParseState::need_more);
  EXPECT_EQ(r.consumed_bytes, rest.size());
  r = parser.feed("st: h\r\n\r\n");
  ASSERT_EQ(r.state, HttpParseState::complete);
  EXPECT_EQ(parser.request().path, "/partial");
  EXPECT_EQ(parser.request().header("host"), "h");
}

uint16_t error_of(HttpRequestParser& parser, std::string_view text) {
  return parse_whole(parser, text).error_status;
}

TEST(HttpRequestParser, UrlLimitIs414) {
  HttpRequestParser parser;
  const std::string fits = "/" + std::string(8191, 'a');
  EXPECT_EQ(error_of(parser, "GET " + fits + " HTTP/1.1\r\n\r\n"), 0);
  EXPECT_EQ(error_of(parser, "GET " + fits + "b HTTP/1.1\r\n\r\n"), 414);
  EXPECT_EQ(parser.error().reason, "request target too long");
}

TEST(HttpRequestParser, HeaderCountLimitIs431) {
  HttpRequestParser parser;
  std::string headers;
  for (int i = 0; i < 64; ++i) headers += "X-H" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(error_of(parser, "GET / HTTP/1.1\r\n" + headers + "\r\n"), 0);
  EXPECT_EQ(error_of(parser, "GET / HTTP/1.1\r\n" + headers + "X-One-More: v\r\n\r\n"), 431);
  EXPECT_EQ(parser.error().reason, "too many header fields");
}

TEST(HttpRequestParser, HeaderBytesLimitIs431) {
  HttpRequestParser parser;
  // "Big" + value = 16 KiB of name and value bytes exactly.
  const std::string value(16 * 1024 - 3, 'v');
  EXPECT_EQ(error_of(parser, "GET / HTTP/1.1\r\nBig: " + value + "\r\n\r\n"), 0);
  EXPECT_EQ(error_of(parser, "GET / HTTP/1.1\r\nBig: " + value + "w\r\n\r\n"), 431);
  EXPECT_EQ(error_of(parser, "GET / HTTP/1.1\r\nA: " + value + "\r\nB: cd\r\n\r\n"), 431);
}

TEST(HttpRequestParser, BodyLimitIs413BeforeTheBodyArrives) {
  HttpRequestParser parser;
  const std::string head = "POST / HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n";
  const HttpParseResult r = parser.feed(head);
  EXPECT_EQ(r.state, HttpParseState::error);
  EXPECT_EQ(parser.error().status, 413);
  parser.reset();
  EXPECT_EQ(parser.feed("POST / HTTP/1.1\r\nContent-Length: 1048576\r\n\r\n").state,
            HttpParseState::need_more);
}

TEST(HttpRequestParser, ChunkedBodyLimitIs413) {
  HttpLimits limits;
  limits.body_bytes_max = 8;
  HttpRequestParser parser(limits);
  const std::string head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(error_of(parser, head + "8\r\n12345678\r\n0\r\n\r\n"), 0);
  EXPECT_EQ(error_of(parser, head + "8\r\n12345678\r\n1\r\n9\r\n0\r\n\r\n"), 413);
  EXPECT_EQ(error_of(parser, head + "ffffffff\r\n"), 0);  // the size alone is not over yet
  EXPECT_EQ(error_of(parser, head + "ffffffff\r\n123456789"), 413);
}

TEST(HttpRequestParser, SmallLimitsAndCallerArena) {
  HttpLimits limits{
      .url_bytes_max = 16, .header_count_max = 2, .header_bytes_max = 32, .body_bytes_max = 4};
  std::vector<std::byte> arena(HttpRequestParser::arena_bytes(limits) + 8);
  auto* aligned =
      reinterpret_cast<std::byte*>((reinterpret_cast<uintptr_t>(arena.data()) + 7) / 8 * 8);
  HttpRequestParser parser(limits, {aligned, HttpRequestParser::arena_bytes(limits)});
  EXPECT_EQ(error_of(parser,
                     "POST /0123456789abcde HTTP/1.1\r\nA: b\r\nContent-Length: 4\r\n"
                     "\r\nbody"),
            0);
  EXPECT_EQ(error_of(parser, "GET /0123456789abcdef HTTP/1.1\r\n\r\n"), 414);
  EXPECT_EQ(error_of(parser, "GET / HTTP/1.1\r\nA: b\r\nC: d\r\nE: f\r\n\r\n"), 431);
  EXPECT_EQ(error_of(parser, "GET / HTTP/1.1\r\nA: " + std::string(32, 'x') + "\r\n\r\n"), 431);
  EXPECT_EQ(error_of(parser, "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n"), 413);
}

TEST(HttpRequestParser, MalformedRequests) {
  HttpRequestParser parser;
  EXPECT_EQ(error_of(parser, "FOO / HTTP/1.1\r\n\r\n"), 501);
  EXPECT_EQ(error_of(parser, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), 501);
  EXPECT_EQ(error_of(parser, "GET / HTTP/2.0\r\n\r\n"), 505);
  EXPECT_EQ(error_of(parser, "GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"), 501);
  EXPECT_EQ(error_of(parser,
                     "GET / HTTP/1.1\r\nContent-Length: 5\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n"),
            400);
  EXPECT_EQ(error_of(parser, "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            400);
  EXPECT_EQ(error_of(parser, "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"), 400);
  EXPECT_EQ(error_of(parser, "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"), 400);
  EXPECT_EQ(error_of(parser, "GET / HTTP/1.1\r\nContent-Length : 1\r\n\r\nx"), 400);
  EXPECT_EQ(error_of(parser, "GET / HTTP/1.1\r\nA: b\x01c\r\n\r\n"), 400);
  EXPECT_EQ(error_of(parser, "GET /a b HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(error_of(parser, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), 400);
  EXPECT_FALSE(parser.error().reason.empty());
}

TEST(HttpRequestParser, StaysInErrorUntilReset) {
  HttpRequestParser parser;
  EXPECT_EQ(parser.feed("GET / HTTP/2.0\r\n\r\n").state, HttpParseState::error);
  const HttpParseResult again = parser.feed(kGetBanks);
  EXPECT_EQ(again.state, HttpParseState::error);
  EXPECT_EQ(again.consumed_bytes, 0u);
  parser.reset();
  EXPECT_EQ(parser.feed(kGetBanks).state, HttpParseState::complete);
}

TEST(HttpRequestParser, UpgradeStopsAtTheEndOfTheRequest) {
  HttpRequestParser parser;
  const std::string request =
      "GET /wsrc HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  const std::string frame = "\x81\x05hello";
  const HttpParseResult r = parser.feed(request + frame);
  ASSERT_EQ(r.state, HttpParseState::complete);
  EXPECT_EQ(r.consumed_bytes, request.size());
  EXPECT_TRUE(parser.request().upgrade);
  EXPECT_EQ(parser.request().header("sec-websocket-key"), "dGhlIHNhbXBsZSBub25jZQ==");
}

TEST(HttpRequestParser, ExpectContinueWaitsForTheBody) {
  HttpRequestParser parser;
  HttpParseResult r =
      parser.feed("PUT /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  EXPECT_EQ(r.state, HttpParseState::need_more);
  EXPECT_TRUE(parser.awaiting_body());
  r = parser.feed("hello");
  ASSERT_EQ(r.state, HttpParseState::complete);
  EXPECT_FALSE(parser.awaiting_body());
  EXPECT_TRUE(parser.request().expect_continue);
  EXPECT_EQ(parser.request().body, "hello");
}

// Every byte of a request replaced by each of the 256 values: the parser answers with a state,
// consumes no more than it was given, and (under ASan) reads nothing outside its arena.
TEST(HttpRequestParser, EveryByteFlippedThroughAllValues) {
  HttpLimits limits;
  limits.body_bytes_max = 64;
  HttpRequestParser parser(limits);
  const std::string base = kPostSlotmap + kGetBanks;
  size_t completes = 0;
  size_t errors = 0;
  for (size_t pos = 0; pos < base.size(); ++pos) {
    std::string mutated = base;
    for (int value = 0; value < 256; ++value) {
      mutated[pos] = static_cast<char>(value);
      const Outcome o = parse_whole(parser, mutated);
      completes += o.requests.size();
      errors += o.error_status != 0;
      if (o.error_status != 0) {
        const uint16_t s = o.error_status;
        EXPECT_TRUE(s == 400 || s == 413 || s == 414 || s == 431 || s == 501 || s == 505) << s;
      }
    }
  }
  EXPECT_GT(completes, 0u);
  EXPECT_GT(errors, 0u);
}

}  // namespace
}  // namespace cp::proto::http
