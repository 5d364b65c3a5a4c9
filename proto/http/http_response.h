// HTTP/1.1 responses (RFC 9112 §4 status line, RFC 9110 §8.6 Content-Length, RFC 9112 §9.6
// Connection) built into caller-owned buffers, and the JSON error body every cellplane REST API
// answers with: {"error":"..."}. Two ways in:
//   - encode_response(): head and body given at once, written in one pass;
//   - HttpResponseWriter: a handler writes the body first, right after a reserved headroom, and
//     finish() puts the status line and headers into the headroom just in front of it, so a
//     large body (metrics) is never copied.
// No I/O, no allocation. Header names and values come from code, not peers, but are still
// checked for CR/LF so a value taken from a request can never split the response.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "base/result.h"
#include "proto/http/http_request.h"
#include "proto/http/span_writer.h"

namespace cp::proto::http {

enum class HttpEncodeError : uint8_t {
  no_room,     // the output buffer (or the headroom) is too small
  bad_header,  // a name that is not a token, or a value with CR, LF or NUL
  bad_status,  // outside 100..999
  finished,    // HttpResponseWriter::finish() called twice without reset()
};
std::string_view to_string(HttpEncodeError error);

// The reason phrase of `status` (RFC 9110 §15), "" for codes without a registered one.
std::string_view reason_phrase(uint16_t status);

// Whether a response with `status` carries a body and Content-Length (not 1xx, 204, 304;
// RFC 9110 §8.6, §15.3.5, §15.4.5).
bool status_has_body(uint16_t status);

struct HttpResponseHead {
  uint16_t status = 200;
  std::string_view content_type;  // no Content-Type field when empty
  bool keep_alive = true;         // "Connection: keep-alive" or "Connection: close"
  std::span<const HttpHeader> extra_headers;
};

// Writes status line, Content-Type, Content-Length (of `body`), Connection, the extra headers,
// then `body` into `out`. Returns the bytes written. For 101 the Connection field is left to the
// extra headers ("Connection: Upgrade").
Result<size_t, HttpEncodeError> encode_response(const HttpResponseHead& head, std::string_view body,
                                                std::span<std::byte> out);

// Appends `text` as the inside of a JSON string (RFC 8259 §7: quote, backslash and control
// characters escaped).
bool append_json_escaped(SpanWriter& out, std::string_view text);
// Writes {"error":"<message>"}; returns the bytes written.
Result<size_t, HttpEncodeError> encode_json_error_body(std::string_view message,
                                                       std::span<char> out);
// A whole error response: `status`, application/json, {"error":"<message>"}.
Result<size_t, HttpEncodeError> encode_error_response(uint16_t status, std::string_view message,
                                                      bool keep_alive, std::span<std::byte> out);

inline constexpr std::string_view kJsonContentType = "application/json";

// Builds one response in a caller-owned buffer: [headroom | body]. The handler sets status,
// content type and extra headers and appends the body in any order; finish() then writes the
// head into the end of the headroom. Lifetime: one response; reset() starts another in the same
// buffer. Used on one thread.
class HttpResponseWriter {
 public:
  // Room the status line and the automatic fields (Content-Type, Content-Length, Connection) may
  // take; extra headers get what is left of the headroom.
  static constexpr size_t kFixedHeadBytesMax = 256;
  static constexpr size_t kContentTypeBytesMax = 128;

  HttpResponseWriter(std::span<std::byte> buffer, size_t head_room_bytes);

  void set_status(uint16_t status) { status_ = status; }
  uint16_t status() const { return status_; }
  // Copies `content_type`; false (and unchanged) if longer than kContentTypeBytesMax or not
  // a valid field value.
  bool set_content_type(std::string_view content_type);
  // Copies one extra field into the headroom; false if it does not fit or is invalid.
  bool add_header(std::string_view name, std::string_view value);
  void set_keep_alive(bool keep_alive) { keep_alive_ = keep_alive; }
  bool keep_alive() const { return keep_alive_; }
  // HEAD: the head says the body's Content-Length, the body is not sent (RFC 9110 §9.3.2).
  void set_omit_body(bool omit_body) { omit_body_ = omit_body; }

  SpanWriter& body() { return body_; }
  bool append(std::string_view text) { return body_.append(text); }
  // Replaces the body with `json`, typed application/json.
  bool set_json(uint16_t status, std::string_view json);
  // Replaces the body with {"error":"<message>"}.
  bool set_error(uint16_t status, std::string_view message);

  // Something (body, header, content type) did not fit or was invalid.
  bool failed() const { return failed_ || body_.overflowed(); }
  // Writes the head in front of the body; returns the whole response, a view into the buffer.
  Result<std::span<const std::byte>, HttpEncodeError> finish();
  // Forgets everything written (status back to 200, keep-alive and omit-body kept).
  void reset();

 private:
  std::span<std::byte> buffer_;
  size_t head_room_bytes_;
  size_t extra_bytes_ = 0;  // "Name: value\r\n" lines at the start of the headroom
  SpanWriter body_;
  uint16_t status_ = 200;
  bool keep_alive_ = true;
  bool omit_body_ = false;
  bool failed_ = false;
  bool finished_ = false;
  uint8_t content_type_bytes_ = 0;
  char content_type_[kContentTypeBytesMax];
};

}  // namespace cp::proto::http
