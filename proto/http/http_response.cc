#include "proto/http/http_response.h"

#include <cstring>

#include "base/assert.h"

namespace cp::proto::http {

namespace {

bool is_token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// RFC 9110 §5.1 field-name = token.
bool valid_field_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!is_token_char(c)) return false;
  }
  return true;
}

// RFC 9110 §5.5: CR, LF and NUL are never allowed in a field value.
bool valid_field_value(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool append_field(SpanWriter& w, std::string_view name, std::string_view value) {
  w.append(name);
  w.append(": ");
  w.append(value);
  return w.append("\r\n");
}

// Status line and the automatic fields.
bool write_fixed_head(SpanWriter& w, uint16_t status, std::string_view content_type,
                      size_t content_length, bool keep_alive) {
  w.append("HTTP/1.1 ");
  w.append_decimal(uint64_t{status});
  w.append(' ');
  w.append(reason_phrase(status));
  w.append("\r\n");
  if (status_has_body(status)) {
    if (!content_type.empty()) append_field(w, "Content-Type", content_type);
    w.append("Content-Length: ");
    w.append_decimal(uint64_t{content_length});
    w.append("\r\n");
  }
  // 101 names its new protocol in "Connection: Upgrade", an extra header of the upgrade handler.
  if (status != 101) append_field(w, "Connection", keep_alive ? "keep-alive" : "close");
  return !w.overflowed();
}

std::span<char> as_char_span(std::span<std::byte> bytes) {
  return {reinterpret_cast<char*>(bytes.data()), bytes.size()};
}

}  // namespace

std::string_view to_string(HttpEncodeError error) {
  switch (error) {
    case HttpEncodeError::no_room:
      return "response does not fit";
    case HttpEncodeError::bad_header:
      return "invalid header field";
    case HttpEncodeError::bad_status:
      return "invalid status code";
    case HttpEncodeError::finished:
      return "response already finished";
  }
  return "unknown encode error";
}

std::string_view reason_phrase(uint16_t status) {
  switch (status) {
    // clang-format off
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    // clang-format on
    default:
      return "";
  }
}

bool status_has_body(uint16_t status) {
  return status >= 200 && status != 204 && status != 304;
}

Result<size_t, HttpEncodeError> encode_response(const HttpResponseHead& head, std::string_view body,
                                                std::span<std::byte> out) {
  if (head.status < 100 || head.status > 999) return fail(HttpEncodeError::bad_status);
  if (!valid_field_value(head.content_type)) return fail(HttpEncodeError::bad_header);
  for (const HttpHeader& h : head.extra_headers) {
    if (!valid_field_name(h.name) || !valid_field_value(h.value)) {
      return fail(HttpEncodeError::bad_header);
    }
  }
  const bool has_body = status_has_body(head.status);
  SpanWriter w(as_char_span(out));
  write_fixed_head(w, head.status, head.content_type, has_body ? body.size() : 0, head.keep_alive);
  for (const HttpHeader& h : head.extra_headers) append_field(w, h.name, h.value);
  w.append("\r\n");
  if (has_body) w.append(body);
  if (w.overflowed()) return fail(HttpEncodeError::no_room);
  return w.size();
}

bool append_json_escaped(SpanWriter& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (char c : text) {
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out.append("\\u00");
          out.append(kHex[(c >> 4) & 0xf]);
          out.append(kHex[c & 0xf]);
        } else {
          out.append(c);
        }
    }
  }
  return !out.overflowed();
}

Result<size_t, HttpEncodeError> encode_json_error_body(std::string_view message,
                                                       std::span<char> out) {
  SpanWriter w(out);
  w.append("{\"error\":\"");
  append_json_escaped(w, message);
  w.append("\"}");
  if (w.overflowed()) return fail(HttpEncodeError::no_room);
  return w.size();
}

Result<size_t, HttpEncodeError> encode_error_response(uint16_t status, std::string_view message,
                                                      bool keep_alive, std::span<std::byte> out) {
  // Error messages are short texts from code; a longer one is refused, not cut.
  char body_buffer[512];
  auto body = encode_json_error_body(message, body_buffer);
  if (!body) return fail(body.error());
  HttpResponseHead head;
  head.status = status;
  head.content_type = kJsonContentType;
  head.keep_alive = keep_alive;
  return encode_response(head, std::string_view(body_buffer, *body), out);
}

HttpResponseWriter::HttpResponseWriter(std::span<std::byte> buffer, size_t head_room_bytes)
    : buffer_(buffer), head_room_bytes_(head_room_bytes) {
  // Sizes are the server's configuration, not peer input.
  CP_ASSERT(head_room_bytes_ >= kFixedHeadBytesMax + 2 && head_room_bytes_ <= buffer_.size());
  body_ = SpanWriter(as_char_span(buffer_.subspan(head_room_bytes_)));
}

bool HttpResponseWriter::set_content_type(std::string_view content_type) {
  if (content_type.size() > kContentTypeBytesMax || !valid_field_value(content_type)) {
    failed_ = true;
    return false;
  }
  std::memcpy(content_type_, content_type.data(), content_type.size());
  content_type_bytes_ = static_cast<uint8_t>(content_type.size());
  return true;
}

bool HttpResponseWriter::add_header(std::string_view name, std::string_view value) {
  const size_t line_bytes = name.size() + value.size() + 4;  // ": " and CRLF
  const size_t room_bytes = head_room_bytes_ - kFixedHeadBytesMax - 2 - extra_bytes_;
  if (!valid_field_name(name) || !valid_field_value(value) || line_bytes > room_bytes) {
    failed_ = true;
    return false;
  }
  SpanWriter w(as_char_span(buffer_.subspan(extra_bytes_, line_bytes)));
  append_field(w, name, value);
  extra_bytes_ += line_bytes;
  return true;
}

bool HttpResponseWriter::set_json(uint16_t status, std::string_view json) {
  status_ = status;
  body_.clear();
  set_content_type(kJsonContentType);
  return body_.append(json);
}

bool HttpResponseWriter::set_error(uint16_t status, std::string_view message) {
  status_ = status;
  body_.clear();
  set_content_type(kJsonContentType);
  body_.append("{\"error\":\"");
  append_json_escaped(body_, message);
  return body_.append("\"}");
}

Result<std::span<const std::byte>, HttpEncodeError> HttpResponseWriter::finish() {
  if (finished_) return fail(HttpEncodeError::finished);
  if (status_ < 100 || status_ > 999) return fail(HttpEncodeError::bad_status);
  if (failed()) return fail(failed_ ? HttpEncodeError::bad_header : HttpEncodeError::no_room);
  const bool has_body = status_has_body(status_);
  char fixed[kFixedHeadBytesMax];
  SpanWriter fixed_writer(fixed);
  if (!write_fixed_head(fixed_writer, status_, {content_type_, content_type_bytes_},
                        has_body ? body_.size() : 0, keep_alive_)) {
    return fail(HttpEncodeError::no_room);
  }
  // [fixed head][extra headers][CRLF] ends exactly where the body starts. add_header() kept
  // room for a maximal fixed head, so this fits.
  const size_t head_bytes = fixed_writer.size() + extra_bytes_ + 2;
  std::byte* start = buffer_.data() + head_room_bytes_ - head_bytes;
  std::memmove(start + fixed_writer.size(), buffer_.data(), extra_bytes_);
  std::memcpy(start, fixed, fixed_writer.size());
  std::memcpy(buffer_.data() + head_room_bytes_ - 2, "\r\n", 2);
  extra_bytes_ = 0;
  finished_ = true;  // the headroom now holds the head: a second finish() would be wrong
  const size_t body_bytes = has_body && !omit_body_ ? body_.size() : 0;
  return std::span<const std::byte>(start, head_bytes + body_bytes);
}

void HttpResponseWriter::reset() {
  extra_bytes_ = 0;
  body_.clear();
  status_ = 200;
  failed_ = false;
  finished_ = false;
  content_type_bytes_ = 0;
}

}  // namespace cp::proto::http
