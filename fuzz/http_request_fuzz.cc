// libFuzzer target for the HTTP/1.1 request parser (proto/http). Input: one byte choosing a
// chunk length (1..256), then a byte stream of (pipelined) requests. The stream is parsed twice,
// whole and cut into chunks of that length, with small limits so 413/414/431 are reached; both
// runs must see the same requests, and both must fail or neither. (Which status a request with
// two faults gets may differ: http-parser reports the target in pieces at chunk ends, so an
// over-long target can be seen before or after a bad byte further on.) Every view of every request
// is read (ASan checks they stay inside the arena), the percent-decoder and the response encoder
// are run on what the peer sent, and an error status must be one the parser documents.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>
#include <vector>

#include "proto/http/http_request.h"
#include "proto/http/http_response.h"
#include "proto/http/url.h"

namespace {

using namespace cp::proto::http;

constexpr HttpLimits kLimits{
    .url_bytes_max = 512, .header_count_max = 16, .header_bytes_max = 1024, .body_bytes_max = 4096};

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "http_request_fuzz: %s\n", what);
  std::abort();
}

uint64_t mix(uint64_t h, std::string_view s) {
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  return (h ^ s.size()) * 0x100000001b3ull;
}

// Reads every part of `r` and runs the helpers handlers use on it; returns a digest.
uint64_t digest(const HttpRequest& r) {
  uint64_t h = mix(0xcbf29ce484222325ull, r.method_name);
  h = mix(mix(mix(mix(h, r.target), r.path), r.query), r.body);
  for (const HttpHeader& field : r.headers) h = mix(mix(h, field.name), field.value);
  h = mix(h, r.header("host").value_or(""));
  h = (h << 3) ^ (r.keep_alive ? 1 : 0) ^ (r.upgrade ? 2 : 0) ^ (r.expect_continue ? 4 : 0);
  char decoded[kLimits.url_bytes_max];
  if (auto path = percent_decode(r.path, decoded)) h = mix(h, *path);
  if (auto id = query_param(r.query, "id", decoded)) h = mix(h, *id);
  // Echo peer text into a response: CR/LF must be refused, never written.
  std::byte out[2048];
  const HttpHeader echo[] = {{"X-Echo", r.header("x-echo").value_or("")}, {r.path, "1"}};
  if (auto n =
          encode_response({.status = 200, .extra_headers = echo}, r.body.substr(0, 256), out)) {
    if (std::string_view(reinterpret_cast<const char*>(out), *n).find("\r\n\r\n") + 4 +
            std::min<size_t>(r.body.size(), 256) !=
        *n) {
      fail("response head has an early blank line");
    }
  }
  return h;
}

struct Run {
  std::vector<uint64_t> requests;
  uint16_t error_status = 0;
  bool same_as(const Run& other) const {
    return requests == other.requests && (error_status == 0) == (other.error_status == 0);
  }
};

Run parse(HttpRequestParser& parser, std::string_view stream, size_t chunk_bytes) {
  Run run;
  parser.reset();
  while (!stream.empty()) {
    std::string_view piece = stream.substr(0, chunk_bytes);
    stream.remove_prefix(piece.size());
    while (!piece.empty()) {
      const HttpParseResult r = parser.feed(piece);
      if (r.consumed_bytes > piece.size()) fail("consumed more than given");
      piece.remove_prefix(r.consumed_bytes);
      if (r.state == HttpParseState::need_more) {
        if (!piece.empty()) fail("need_more left bytes unconsumed");
        break;
      }
      if (r.state == HttpParseState::error) {
        const uint16_t s = parser.error().status;
        if (s != 400 && s != 413 && s != 414 && s != 431 && s != 501 && s != 505) {
          fail("undocumented error status");
        }
        run.error_status = s;
        return run;
      }
      run.requests.push_back(digest(parser.request()));
      parser.reset();
    }
  }
  return run;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static HttpRequestParser whole(kLimits);
  static HttpRequestParser chunked(kLimits);
  if (size == 0) return 0;
  const size_t chunk_bytes = size_t{data[0]} + 1;
  const std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
  const Run a = parse(whole, stream, stream.size() + 1);
  const Run b = parse(chunked, stream, chunk_bytes);
  if (!a.same_as(b)) fail("whole and chunked parses differ");
  return 0;
}
