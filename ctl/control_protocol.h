// The control protocol between cellctl (or any admin client) and cellplaned: pure functions over
// byte spans, no I/O, no reactor types. docs/CONTROL.md is the specification; in short:
//
//   frame    = length:u32 big-endian || body        (1 <= length <= kFrameBodyBytesMax)
//   body     = UTF-8 JSON
//   request  = {"id": <u64>, "cmd": "<dotted.name>", "args": {"<key>": <string|number|bool>}}
//   response = {"id": N, "ok": true, "result": <any JSON>}
//            | {"id": N, "ok": false, "error": "<message>", "code": "<error code>"}
//
// Requests are decoded with simdjson (kept out of this header) into a ControlRequest view whose
// strings live in the caller's DecodeScratch. Responses and results are written with JsonWriter.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "base/json_string.h"
#include "base/result.h"

namespace cp::ctl {

inline constexpr size_t kFrameHeaderBytes = 4;
inline constexpr size_t kFrameBodyBytesMax = size_t{1} << 20;
inline constexpr size_t kArgsMax = 32;
inline constexpr size_t kCommandNameBytesMax = 128;

// The `code` of an error response (docs/CONTROL.md, "Error codes").
namespace error_code {
inline constexpr std::string_view bad_frame = "bad_frame";                // framing broken: closed
inline constexpr std::string_view bad_request = "bad_request";            // not a valid request
inline constexpr std::string_view unknown_command = "unknown_command";    // no such cmd
inline constexpr std::string_view command_failed = "command_failed";      // the handler said no
inline constexpr std::string_view result_too_large = "result_too_large";  // > 1 MiB of JSON
inline constexpr std::string_view internal = "internal";                  // a bug in a handler
}  // namespace error_code

enum class ProtocolError : uint8_t {
  frame_too_large,  // length field > kFrameBodyBytesMax
  frame_empty,      // length field 0
  bad_json,         // not UTF-8 JSON
  not_an_object,    // the body is JSON but not an object
  unknown_field,    // a top-level field other than id, cmd, args
  duplicate_field,  // a field or argument given twice
  bad_id,           // id missing or not an unsigned 64-bit integer
  bad_cmd,          // cmd missing, not a string, or not a dotted name
  bad_args,         // args not an object, or more than kArgsMax entries
  bad_arg_value,    // an argument that is not a string, number or boolean
  bad_response,     // a response without id/ok, or with fields of the wrong type
};
std::string_view to_string(ProtocolError error);

struct DecodeError {
  ProtocolError error;
  uint64_t id = 0;      // the request's id when it could be read (to answer it), else 0
  std::string message;  // for people: says which field and why
};

// ---- framing ----------------------------------------------------------------------------------

// Looks at the start of a byte stream. Returns 0 when fewer than kFrameHeaderBytes are there
// (need more), else the total length of the first frame, header included; the frame is complete
// once that many bytes have arrived. An error means the stream cannot be framed any more.
Result<size_t, ProtocolError> frame_length(std::span<const std::byte> bytes);

// The body of a complete frame at the start of `bytes` (frame_length() must have returned a
// length <= bytes.size()).
std::span<const std::byte> frame_body(std::span<const std::byte> bytes, size_t frame_bytes);

// ---- writing JSON -----------------------------------------------------------------------------

// Writes one JSON value (usually an object) into a string, inserting commas and colons itself.
// Strings are escaped per RFC 8259; invalid UTF-8 becomes U+FFFD, so the output is always valid
// JSON. Misuse (a value in an object without a key, unbalanced end_*) is a programming error and
// asserts. Reusing a writer after clear() keeps its buffer, so steady-state use does not
// allocate. Not thread-safe; one writer per user.
class JsonWriter {
 public:
  static constexpr size_t kDepthMax = 64;

  JsonWriter() : out_(&own_) {}
  // Appends to `out` (which must outlive the writer) instead of an own buffer.
  explicit JsonWriter(std::string& out) : out_(&out), start_(out.size()) {}
  JsonWriter(const JsonWriter&) = delete;
  JsonWriter& operator=(const JsonWriter&) = delete;

  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view name);
  JsonWriter& string(std::string_view text);
  template <std::integral T>
  JsonWriter& number(T value) {
    static_assert(!std::same_as<T, bool>, "use boolean()");
    if constexpr (std::is_signed_v<T>) {
      return signed_number(static_cast<int64_t>(value));
    } else {
      return unsigned_number(static_cast<uint64_t>(value));
    }
  }
  JsonWriter& number(double value);  // NaN and infinities are written as null
  JsonWriter& boolean(bool value);
  JsonWriter& null();
  // Inserts `json`, which must be one complete, valid JSON value, as the next value.
  JsonWriter& raw(std::string_view json);

  // key(name) followed by the value.
  JsonWriter& field(std::string_view name, std::string_view text) { return key(name).string(text); }
  JsonWriter& field(std::string_view name, const char* text) { return key(name).string(text); }
  template <std::integral T>
  JsonWriter& field(std::string_view name, T value) {
    if constexpr (std::same_as<T, bool>) {
      return key(name).boolean(value);
    } else {
      return key(name).number(value);
    }
  }
  JsonWriter& field(std::string_view name, double value) { return key(name).number(value); }

  // Whether exactly one top-level value has been written and every container is closed.
  bool complete() const { return depth_ == 0 && root_written_; }
  bool empty() const { return out_->size() == start_; }
  // What this writer wrote (not what was in an external string before it).
  std::string_view view() const { return std::string_view(*out_).substr(start_); }
  size_t size() const { return out_->size() - start_; }
  // Forgets everything written (keeps the buffer's capacity).
  void clear();

 private:
  void before_value();
  void after_container_closed();
  JsonWriter& signed_number(int64_t value);
  JsonWriter& unsigned_number(uint64_t value);

  std::string own_;
  std::string* out_;
  size_t start_ = 0;
  size_t depth_ = 0;
  bool root_written_ = false;
  bool after_key_ = false;
  bool in_object_[kDepthMax] = {};
  bool has_items_[kDepthMax] = {};
};

// append_json_string (quoted, escaped, invalid UTF-8 replaced by U+FFFD) is base/json_string.h.

// ---- requests ---------------------------------------------------------------------------------

// A command name: dot-separated words of ASCII letters, digits, '_' and '-', at most
// kCommandNameBytesMax bytes ("stats", "config.show", "log-level").
bool valid_command_name(std::string_view name);

struct ControlArg {
  enum class Kind : uint8_t { string, integer, real, boolean };
  std::string_view key;
  Kind kind = Kind::string;
  std::string_view text;  // Kind::string
  int64_t integer = 0;    // Kind::integer
  double real = 0;        // Kind::real
  bool boolean = false;   // Kind::boolean
};

// A decoded request. Its strings point into the DecodeScratch it was decoded with and stay valid
// until that scratch decodes the next request.
struct ControlRequest {
  uint64_t id = 0;
  std::string_view cmd;
  std::span<const ControlArg> args;

  const ControlArg* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }
  // Typed access for handlers; the error says what was wrong and can be returned as is.
  // Integers and booleans are also accepted as strings ("42", "true"), because cellctl sends
  // every key=value argument as a string.
  Result<std::string_view, std::string> string_arg(std::string_view key) const;
  Result<int64_t, std::string> int_arg(std::string_view key) const;
  Result<bool, std::string> bool_arg(std::string_view key) const;
};

// The decoder's reusable state: a simdjson parser, a padded copy of the body and the argument
// array. One per connection (or per thread); steady-state decoding does not allocate.
class DecodeScratch {
 public:
  DecodeScratch();
  ~DecodeScratch();
  DecodeScratch(const DecodeScratch&) = delete;
  DecodeScratch& operator=(const DecodeScratch&) = delete;

  struct Impl;

 private:
  friend Result<ControlRequest, DecodeError> decode_request(std::span<const std::byte> body,
                                                            DecodeScratch& scratch);
  std::unique_ptr<Impl> impl_;
};

// Decodes the body of one request frame.
Result<ControlRequest, DecodeError> decode_request(std::span<const std::byte> body,
                                                   DecodeScratch& scratch);

// Appends a whole request frame (header and body); every argument is sent as a string. False
// (and nothing appended) when the body would exceed kFrameBodyBytesMax.
bool encode_request(uint64_t id, std::string_view cmd,
                    std::span<const std::pair<std::string, std::string>> args, std::string& out);

// ---- responses --------------------------------------------------------------------------------

// Append a whole response frame. `result_json` must be one complete JSON value; empty = null.
void encode_ok_response(uint64_t id, std::string_view result_json, std::string& out);
void encode_error_response(uint64_t id, std::string_view code, std::string_view message,
                           std::string& out);

// A decoded response (client side; owns its strings).
struct ControlResponse {
  uint64_t id = 0;
  bool ok = false;
  std::string result_json = "null";  // ok: the result, minified
  std::string error;                 // !ok: the message
  std::string code;                  // !ok: one of error_code
};

// Decodes the body of one response frame. Unknown fields are ignored (newer servers may add
// some).
Result<ControlResponse, DecodeError> decode_response(std::span<const std::byte> body);

}  // namespace cp::ctl
