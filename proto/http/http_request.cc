#include "proto/http/http_request.h"

#include <http_parser.h>

#include <climits>
#include <cstring>
#include <memory>
#include <new>

#include "base/assert.h"

namespace cp::proto::http {

static_assert(sizeof(http_parser) <= 32 && alignof(http_parser) <= 8,
              "http_parser_storage_ is too small for this http-parser build");
static_assert(alignof(HttpHeader) <= 8);

namespace {

constexpr size_t kArenaAlignBytes = 8;

size_t round_up(size_t n, size_t align) {
  return (n + align - 1) / align * align;
}

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// RFC 9110 §5.6.2 tchar. Debian builds http-parser without HTTP_PARSER_STRICT, which lets spaces
// and other separators into field names; a name is checked here instead.
bool is_token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool all_token_chars(const char* at, size_t len) {
  for (size_t i = 0; i < len; ++i) {
    if (!is_token_char(at[i])) return false;
  }
  return true;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

HttpMethod method_from_parser(unsigned method) {
  switch (method) {
    case HTTP_GET:
      return HttpMethod::get;
    case HTTP_HEAD:
      return HttpMethod::head;
    case HTTP_POST:
      return HttpMethod::post;
    case HTTP_PUT:
      return HttpMethod::put;
    case HTTP_DELETE:
      return HttpMethod::delete_;
    case HTTP_OPTIONS:
      return HttpMethod::options;
    case HTTP_PATCH:
      return HttpMethod::patch;
    case HTTP_CONNECT:
      return HttpMethod::connect;
    default:
      return HttpMethod::other;
  }
}

// Splits a request-target (RFC 9112 §3.2) into path and query. Origin-form "/p?q" is the usual
// case; absolute-form "http://host/p?q" drops scheme and authority; asterisk-form "*" is its own
// path; authority-form (CONNECT "host:port") has no path.
void split_target(std::string_view target, HttpRequest& request) {
  std::string_view rest = target;
  if (rest == "*") {
    request.path = rest;
    return;
  }
  if (!rest.empty() && rest.front() != '/') {
    const size_t scheme_end = rest.find("://");
    if (scheme_end == std::string_view::npos) return;  // authority-form
    rest.remove_prefix(scheme_end + 3);
    const size_t path_start = rest.find_first_of("/?#");
    rest = path_start == std::string_view::npos ? std::string_view{} : rest.substr(path_start);
  }
  rest = rest.substr(0, rest.find('#'));
  const size_t query_start = rest.find('?');
  request.path = rest.substr(0, query_start);
  if (query_start != std::string_view::npos) request.query = rest.substr(query_start + 1);
  if (request.path.empty()) request.path = "/";
}

}  // namespace

std::string_view to_string(HttpMethod method) {
  switch (method) {
    case HttpMethod::get:
      return "GET";
    case HttpMethod::head:
      return "HEAD";
    case HttpMethod::post:
      return "POST";
    case HttpMethod::put:
      return "PUT";
    case HttpMethod::delete_:
      return "DELETE";
    case HttpMethod::options:
      return "OPTIONS";
    case HttpMethod::patch:
      return "PATCH";
    case HttpMethod::connect:
      return "CONNECT";
    case HttpMethod::other:
      break;
  }
  return "OTHER";
}

bool equals_ignore_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

std::optional<std::string_view> HttpRequest::header(std::string_view name) const {
  for (const HttpHeader& h : headers) {
    if (equals_ignore_case(h.name, name)) return h.value;
  }
  return std::nullopt;
}

bool HttpRequest::header_has_token(std::string_view name, std::string_view token) const {
  for (const HttpHeader& h : headers) {
    if (!equals_ignore_case(h.name, name)) continue;
    std::string_view rest = h.value;
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      if (equals_ignore_case(trim_ows(rest.substr(0, comma)), token)) return true;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return false;
}

// The http-parser callbacks. Each returns 0 to go on; a non-zero value (with error_ set) stops
// the parser. on_headers_complete must not return 1 or 2 (those mean "no body" / "upgrade").
struct HttpRequestParser::Callbacks {
  static HttpRequestParser& self(http_parser* p) {
    return *static_cast<HttpRequestParser*>(p->data);
  }
  static int stop(HttpRequestParser& s, uint16_t status, std::string_view reason) {
    s.set_error(status, reason);
    return -1;
  }

  static int on_url(http_parser* p, const char* at, size_t len) {
    HttpRequestParser& s = self(p);
    if (len > s.limits_.url_bytes_max - s.url_bytes_) {
      return stop(s, 414, "request target too long");
    }
    if (!s.append_text(at, len)) return -1;
    s.url_bytes_ += len;
    return 0;
  }

  static int on_header_field(http_parser* p, const char* at, size_t len) {
    HttpRequestParser& s = self(p);
    if (!all_token_chars(at, len)) {
      return stop(s, 400, "invalid character in header name");
    }
    if (s.last_field_ != LastField::name) {
      if (s.header_count_ == s.limits_.header_count_max) {
        return stop(s, 431, "too many header fields");
      }
      s.header_table_[s.header_count_++] = HttpHeader{{s.text_ + s.text_bytes_, 0}, {}};
      s.last_field_ = LastField::name;
    }
    if (!s.append_header_text(at, len)) return -1;
    std::string_view& name = s.header_table_[s.header_count_ - 1].name;
    name = {name.data(), name.size() + len};
    return 0;
  }

  static int on_header_value(http_parser* p, const char* at, size_t len) {
    HttpRequestParser& s = self(p);
    if (s.header_count_ == 0) return stop(s, 400, "header value without a name");
    std::string_view& value = s.header_table_[s.header_count_ - 1].value;
    if (s.last_field_ != LastField::value) {
      value = {s.text_ + s.text_bytes_, 0};
      s.last_field_ = LastField::value;
    }
    if (!s.append_header_text(at, len)) return -1;
    value = {value.data(), value.size() + len};
    return 0;
  }

  static int on_headers_complete(http_parser* p) { return self(p).finish_headers() ? 0 : -1; }

  static int on_body(http_parser* p, const char* at, size_t len) {
    HttpRequestParser& s = self(p);
    if (len > s.limits_.body_bytes_max - s.body_bytes_) {
      return stop(s, 413, "request body too large");
    }
    if (len > 0) std::memcpy(s.body_ + s.body_bytes_, at, len);
    s.body_bytes_ += len;
    return 0;
  }

  static int on_message_complete(http_parser* p) {
    self(p).finish_request();
    // Stop right after this request: what follows is the next pipelined request (or another
    // protocol after an upgrade), parsed only after reset().
    http_parser_pause(p, 1);
    return 0;
  }

  static const http_parser_settings settings;
};

const http_parser_settings HttpRequestParser::Callbacks::settings = {
    .on_message_begin = nullptr,
    .on_url = &Callbacks::on_url,
    .on_status = nullptr,
    .on_header_field = &Callbacks::on_header_field,
    .on_header_value = &Callbacks::on_header_value,
    .on_headers_complete = &Callbacks::on_headers_complete,
    .on_body = &Callbacks::on_body,
    .on_message_complete = &Callbacks::on_message_complete,
    .on_chunk_header = nullptr,
    .on_chunk_complete = nullptr,
};

size_t HttpRequestParser::arena_bytes(const HttpLimits& limits) {
  return round_up(sizeof(HttpHeader) * limits.header_count_max, kArenaAlignBytes) +
         round_up(size_t{limits.url_bytes_max} + limits.header_bytes_max, kArenaAlignBytes) +
         round_up(limits.body_bytes_max, kArenaAlignBytes);
}

HttpRequestParser::HttpRequestParser(const HttpLimits& limits) : limits_(limits) {
  const size_t n = arena_bytes(limits_);
  owned_arena_.reset(new std::byte[n]);  // default-new alignment (16) suffices; not zeroed
  bind_arena({owned_arena_.get(), n});
}

HttpRequestParser::HttpRequestParser(const HttpLimits& limits, std::span<std::byte> arena)
    : limits_(limits) {
  bind_arena(arena);
}

HttpRequestParser::~HttpRequestParser() = default;

void HttpRequestParser::bind_arena(std::span<std::byte> arena) {
  // The arena is the caller's configuration, not peer input.
  CP_ASSERT(arena.size() >= arena_bytes(limits_));
  CP_ASSERT(reinterpret_cast<uintptr_t>(arena.data()) % kArenaAlignBytes == 0);
  std::byte* at = arena.data();
  auto* table = reinterpret_cast<HttpHeader*>(at);
  std::uninitialized_value_construct_n(table, limits_.header_count_max);
  header_table_ = std::launder(table);
  at += round_up(sizeof(HttpHeader) * limits_.header_count_max, kArenaAlignBytes);
  text_ = reinterpret_cast<char*>(at);
  text_capacity_ = size_t{limits_.url_bytes_max} + limits_.header_bytes_max;
  at += round_up(text_capacity_, kArenaAlignBytes);
  body_ = reinterpret_cast<char*>(at);
  reset();
}

void HttpRequestParser::reset() {
  auto* p = reinterpret_cast<http_parser*>(http_parser_storage_);
  http_parser_init(p, HTTP_REQUEST);
  p->data = this;
  text_bytes_ = 0;
  url_bytes_ = 0;
  body_bytes_ = 0;
  header_count_ = 0;
  last_field_ = LastField::none;
  phase_ = Phase::parsing;
  headers_done_ = false;
  request_ = HttpRequest{};
  error_ = HttpError{};
}

bool HttpRequestParser::set_error(uint16_t status, std::string_view reason) {
  if (phase_ != Phase::error) error_ = HttpError{status, reason};
  phase_ = Phase::error;
  return false;
}

// Appends header-field text, within header_bytes_max.
bool HttpRequestParser::append_header_text(const char* at, size_t len) {
  if (len > limits_.header_bytes_max - (text_bytes_ - url_bytes_)) {
    return set_error(431, "header fields too large");
  }
  return append_text(at, len);
}

// Appends to the target + header text area (the URL and header limits are checked before).
bool HttpRequestParser::append_text(const char* at, size_t len) {
  if (len > text_capacity_ - text_bytes_) return set_error(431, "header fields too large");
  if (len > 0) std::memcpy(text_ + text_bytes_, at, len);
  text_bytes_ += len;
  return true;
}

bool HttpRequestParser::finish_headers() {
  const auto* p = reinterpret_cast<const http_parser*>(http_parser_storage_);
  if (p->http_major != 1) return set_error(505, "HTTP version not supported");
  if (p->content_length != ULLONG_MAX && p->content_length > limits_.body_bytes_max) {
    return set_error(413, "request body too large");
  }
  request_.method = method_from_parser(p->method);
  request_.method_name = http_method_str(static_cast<http_method>(p->method));
  request_.version_major = p->http_major;
  request_.version_minor = p->http_minor;
  request_.target = {text_, url_bytes_};
  split_target(request_.target, request_);
  request_.headers = {header_table_, header_count_};
  request_.keep_alive = http_should_keep_alive(p) != 0;
  request_.upgrade = p->upgrade != 0;
  request_.expect_continue = request_.header_has_token("Expect", "100-continue");
  headers_done_ = true;
  return true;
}

void HttpRequestParser::finish_request() {
  request_.headers = {header_table_, header_count_};  // trailers may have added fields
  request_.body = {body_, body_bytes_};
  phase_ = Phase::complete;
}

bool HttpRequestParser::awaiting_body() const {
  return phase_ == Phase::parsing && headers_done_ && request_.expect_continue;
}

namespace {

HttpError error_from_parser(http_errno err) {
  switch (err) {
    case HPE_HEADER_OVERFLOW:
      return {431, "header section too large"};
    case HPE_INVALID_METHOD:
      return {501, "method not implemented"};
    case HPE_INVALID_TRANSFER_ENCODING:
      return {501, "transfer coding not implemented"};
    default:
      return {400, http_errno_description(err)};
  }
}

}  // namespace

HttpParseResult HttpRequestParser::feed(std::span<const std::byte> bytes) {
  if (phase_ == Phase::complete) return {HttpParseState::complete, 0};
  if (phase_ == Phase::error) return {HttpParseState::error, 0};
  if (bytes.empty()) return {HttpParseState::need_more, 0};  // 0 bytes would mean EOF to it
  auto* p = reinterpret_cast<http_parser*>(http_parser_storage_);
  const size_t consumed = http_parser_execute(
      p, &Callbacks::settings, reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (phase_ == Phase::complete) return {HttpParseState::complete, consumed};
  if (phase_ == Phase::error) return {HttpParseState::error, consumed};
  const auto err = HTTP_PARSER_ERRNO(p);
  if (err != HPE_OK) {
    const HttpError mapped = error_from_parser(err);
    set_error(mapped.status, mapped.reason);
    return {HttpParseState::error, consumed};
  }
  if (consumed != bytes.size()) {
    set_error(400, "request could not be framed");
    return {HttpParseState::error, consumed};
  }
  return {HttpParseState::need_more, consumed};
}

HttpParseResult HttpRequestParser::feed(std::string_view text) {
  return feed(
      std::span<const std::byte>(reinterpret_cast<const std::byte*>(text.data()), text.size()));
}

}  // namespace cp::proto::http
