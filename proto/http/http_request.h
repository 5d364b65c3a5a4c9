// Incremental HTTP/1.1 request parser (message syntax of RFC 9112) around Debian's http-parser
// 2.9.4. It is fed arbitrary chunks of a byte stream and produces one HttpRequest at a time,
// saying how many bytes it consumed, so pipelined requests are parsed one after another out of
// the same receive buffer. Every piece of a request (target, header fields, decoded body) is
// copied into a fixed arena sized from HttpLimits when the parser is built; a request that does
// not fit is an error carrying the status to answer (413, 414, 431), never growth. Malformed
// input is an error (400, 501, 505), never an assertion.
//
// Used by the HTTP server service (engine/http) for the REST APIs, /metrics and, later, the
// WebSocket upgrade of WSRC. No I/O, no reactor types, no allocation after construction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

namespace cp::proto::http {

enum class HttpMethod : uint8_t { other, get, head, post, put, delete_, options, patch, connect };
std::string_view to_string(HttpMethod method);

// Bounds of one request. The arena holds exactly this much, whatever the peer sends.
struct HttpLimits {
  uint32_t url_bytes_max = 8 * 1024;      // request-target; longer: 414
  uint32_t header_count_max = 64;         // header (and trailer) fields; more: 431
  uint32_t header_bytes_max = 16 * 1024;  // names + values of all fields; more: 431
  uint32_t body_bytes_max = 1024 * 1024;  // decoded body; more: 413
};

struct HttpHeader {
  std::string_view name;
  std::string_view value;
};

// ASCII case-insensitive equality (header names and tokens, RFC 9110 §5.1).
bool equals_ignore_case(std::string_view a, std::string_view b);

// One parsed request. Views point into the parser's arena: valid until the parser's next
// reset() (or its destruction).
struct HttpRequest {
  HttpMethod method = HttpMethod::other;
  std::string_view method_name;  // as on the wire ("GET", "PROPFIND"), static storage
  std::string_view target;       // request-target as received, still percent-encoded
  std::string_view path;         // path of the target, still percent-encoded ("*" for OPTIONS *)
  std::string_view query;        // after '?', without it; empty when absent
  uint16_t version_major = 1;
  uint16_t version_minor = 1;
  std::span<const HttpHeader> headers;  // in arrival order, trailers of a chunked body included
  std::string_view body;                // chunked transfer coding already removed
  // RFC 9112 §9.3: HTTP/1.1 persists unless "Connection: close"; HTTP/1.0 only with
  // "Connection: keep-alive".
  bool keep_alive = true;
  // Upgrade + "Connection: upgrade", or CONNECT: the bytes after this request are not HTTP.
  bool upgrade = false;
  bool expect_continue = false;  // "Expect: 100-continue" (RFC 9110 §10.1.1)

  // First field named `name` (case-insensitive), or nullopt.
  std::optional<std::string_view> header(std::string_view name) const;
  // Whether any field named `name` lists `token` in its comma-separated value
  // (case-insensitive), e.g. header_has_token("Connection", "upgrade").
  bool header_has_token(std::string_view name, std::string_view token) const;
};

// Why a request was refused: the status to answer and a short human-readable reason (static
// storage). The connection is closed after answering: the stream can no longer be framed.
struct HttpError {
  uint16_t status = 0;  // 400, 413, 414, 431, 501, 505
  std::string_view reason;
};

enum class HttpParseState : uint8_t {
  need_more,  // every byte given was consumed; feed more
  complete,   // request() is ready; the bytes after consumed_bytes belong to the next one
  error,      // error() says why; the parser stays in error until reset()
};

struct HttpParseResult {
  HttpParseState state;
  size_t consumed_bytes;  // of the bytes given to this feed()
};

// Lifetime: one per connection, used by the connection's reactor thread only. Not movable (the
// http-parser state points back at it).
class HttpRequestParser {
 public:
  // Bytes of arena a parser with `limits` needs.
  static size_t arena_bytes(const HttpLimits& limits);

  // Allocates its own arena of arena_bytes(limits), once, here.
  explicit HttpRequestParser(const HttpLimits& limits = {});
  // Uses the caller's `arena` (at least arena_bytes(limits), 8-byte aligned), which must outlive
  // the parser.
  HttpRequestParser(const HttpLimits& limits, std::span<std::byte> arena);
  ~HttpRequestParser();
  HttpRequestParser(const HttpRequestParser&) = delete;
  HttpRequestParser& operator=(const HttpRequestParser&) = delete;

  // Parses up to the end of one request. After `complete` or `error` it consumes nothing until
  // reset().
  HttpParseResult feed(std::span<const std::byte> bytes);
  HttpParseResult feed(std::string_view text);

  const HttpRequest& request() const { return request_; }  // after `complete`
  const HttpError& error() const { return error_; }        // after `error`
  // Headers are complete, announced "Expect: 100-continue", and the body is still to come: the
  // moment a server answers "100 Continue".
  bool awaiting_body() const;
  const HttpLimits& limits() const { return limits_; }

  // Forgets the current request (its views die) and gets ready for the next one.
  void reset();

 private:
  struct Callbacks;  // http-parser callbacks, in the .cc
  enum class Phase : uint8_t { parsing, complete, error };
  enum class LastField : uint8_t { none, name, value };

  void bind_arena(std::span<std::byte> arena);
  bool set_error(uint16_t status, std::string_view reason);
  bool append_text(const char* at, size_t len);
  bool append_header_text(const char* at, size_t len);
  bool finish_headers();
  void finish_request();

  // http_parser from <http_parser.h>, kept opaque so only the .cc sees that header.
  alignas(8) std::byte http_parser_storage_[32];
  HttpLimits limits_;
  std::unique_ptr<std::byte[]> owned_arena_;
  // Arena layout: [header table][target + header text][body].
  HttpHeader* header_table_ = nullptr;
  char* text_ = nullptr;
  size_t text_capacity_ = 0;
  char* body_ = nullptr;
  size_t text_bytes_ = 0;
  size_t url_bytes_ = 0;
  size_t body_bytes_ = 0;
  uint32_t header_count_ = 0;
  LastField last_field_ = LastField::none;
  Phase phase_ = Phase::parsing;
  bool headers_done_ = false;
  HttpRequest request_;
  HttpError error_;
};

}  // namespace cp::proto::http
