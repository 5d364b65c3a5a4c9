// The control protocol codec: framing, JSON writing, request and response decoding
// (docs/CONTROL.md). simdjson's DOM API parses a padded copy of each body.
#include "ctl/control_protocol.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <vector>

#include "base/assert.h"
#include "base/byte_reader.h"
#include "base/json_string.h"

namespace cp::ctl {

namespace {

constexpr size_t kQuotedKeyBytesMax = 64;  // how much of a bad key an error message repeats

// Reserves the frame header in `out`; returns where it is.
size_t begin_frame(std::string& out) {
  const size_t at = out.size();
  out.append(kFrameHeaderBytes, '\0');
  return at;
}

// Fills in the header reserved at `at` once the body is written behind it.
void end_frame(std::string& out, size_t at) {
  const size_t body_bytes = out.size() - at - kFrameHeaderBytes;
  CP_ASSERT(body_bytes <= kFrameBodyBytesMax);
  put_u32(reinterpret_cast<std::byte*>(out.data() + at), static_cast<uint32_t>(body_bytes));
}

// A short, printable rendering of a peer-supplied key for error messages.
std::string quote_key(std::string_view key) {
  std::string out;
  append_json_string(key.substr(0, kQuotedKeyBytesMax), out);
  return out;
}

DecodeError decode_error(ProtocolError error, uint64_t id, std::string message) {
  return DecodeError{error, id, std::move(message)};
}

Result<ControlArg, DecodeError> decode_arg(std::string_view key, simdjson::dom::element value,
                                           uint64_t id) {
  ControlArg arg;
  arg.key = key;
  switch (value.type()) {
    case simdjson::dom::element_type::STRING:
      arg.kind = ControlArg::Kind::string;
      arg.text = value.get_string().value_unsafe();
      return arg;
    case simdjson::dom::element_type::INT64:
      arg.kind = ControlArg::Kind::integer;
      arg.integer = value.get_int64().value_unsafe();
      return arg;
    case simdjson::dom::element_type::DOUBLE:
      arg.kind = ControlArg::Kind::real;
      arg.real = value.get_double().value_unsafe();
      return arg;
    case simdjson::dom::element_type::BOOL:
      arg.kind = ControlArg::Kind::boolean;
      arg.boolean = value.get_bool().value_unsafe();
      return arg;
    case simdjson::dom::element_type::UINT64:
      return fail(decode_error(ProtocolError::bad_arg_value, id,
                               "argument " + quote_key(key) + " is out of the 64-bit range"));
    default:
      return fail(
          decode_error(ProtocolError::bad_arg_value, id,
                       "argument " + quote_key(key) + " must be a string, number or boolean"));
  }
}

Result<void, DecodeError> decode_args(simdjson::dom::object object, std::vector<ControlArg>& out,
                                      uint64_t id) {
  for (const simdjson::dom::key_value_pair field : object) {
    const std::string_view key = field.key;  // a plain name: lambdas cannot capture bindings
    if (out.size() == kArgsMax) {
      return fail(decode_error(ProtocolError::bad_args, id,
                               fmt::format("more than {} arguments", kArgsMax)));
    }
    if (key.empty()) {
      return fail(decode_error(ProtocolError::bad_args, id, "empty argument name"));
    }
    const bool duplicate =
        std::any_of(out.begin(), out.end(), [&](const ControlArg& a) { return a.key == key; });
    if (duplicate) {
      return fail(decode_error(ProtocolError::duplicate_field, id,
                               "argument " + quote_key(key) + " given twice"));
    }
    auto arg = decode_arg(key, field.value, id);
    if (!arg) return fail(std::move(arg.error()));
    out.push_back(*arg);
  }
  return {};
}

// Reads the id first, so that an error about any other field can still be answered to it.
uint64_t peek_id(simdjson::dom::object object) {
  uint64_t id = 0;
  simdjson::dom::element value;
  if (object.at_key("id").get(value) == simdjson::SUCCESS) {
    if (value.get_uint64().get(id) != simdjson::SUCCESS) id = 0;
  }
  return id;
}

// Parses `body` into the parser from a padded copy in `padded`.
simdjson::error_code parse_padded(simdjson::dom::parser& parser, std::string& padded,
                                  std::span<const std::byte> body, simdjson::dom::element& root) {
  padded.assign(as_chars(body));
  padded.resize(body.size() + simdjson::SIMDJSON_PADDING, '\0');
  return parser.parse(padded.data(), body.size(), false).get(root);
}

}  // namespace

bool valid_command_name(std::string_view name) {
  if (name.empty() || name.size() > kCommandNameBytesMax) return false;
  bool segment_empty = true;
  for (const char c : name) {
    if (c == '.') {
      if (segment_empty) return false;
      segment_empty = true;
      continue;
    }
    const bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-';
    if (!word) return false;
    segment_empty = false;
  }
  return !segment_empty;
}

std::string_view to_string(ProtocolError error) {
  switch (error) {
    case ProtocolError::frame_too_large:
      return "frame too large";
    case ProtocolError::frame_empty:
      return "empty frame";
    case ProtocolError::bad_json:
      return "bad JSON";
    case ProtocolError::not_an_object:
      return "not a JSON object";
    case ProtocolError::unknown_field:
      return "unknown field";
    case ProtocolError::duplicate_field:
      return "duplicate field";
    case ProtocolError::bad_id:
      return "bad id";
    case ProtocolError::bad_cmd:
      return "bad cmd";
    case ProtocolError::bad_args:
      return "bad args";
    case ProtocolError::bad_arg_value:
      return "bad argument value";
    case ProtocolError::bad_response:
      return "bad response";
  }
  return "unknown error";
}

// ---- framing ----------------------------------------------------------------------------------

Result<size_t, ProtocolError> frame_length(std::span<const std::byte> bytes) {
  ByteReader reader(bytes);
  const auto body_bytes = reader.u32();
  if (!body_bytes) return 0;
  if (*body_bytes == 0) return fail(ProtocolError::frame_empty);
  if (*body_bytes > kFrameBodyBytesMax) return fail(ProtocolError::frame_too_large);
  return kFrameHeaderBytes + *body_bytes;
}

std::span<const std::byte> frame_body(std::span<const std::byte> bytes, size_t frame_bytes) {
  CP_ASSERT(frame_bytes > kFrameHeaderBytes && frame_bytes <= bytes.size());
  return bytes.subspan(kFrameHeaderBytes, frame_bytes - kFrameHeaderBytes);
}

// ---- JsonWriter -------------------------------------------------------------------------------

void JsonWriter::before_value() {
  if (depth_ == 0) {
    CP_ASSERT(!root_written_);  // one top-level value per writer
    return;
  }
  if (in_object_[depth_ - 1]) {
    CP_ASSERT(after_key_);  // a value in an object needs key() first
    after_key_ = false;
    return;
  }
  if (has_items_[depth_ - 1]) out_->push_back(',');
  has_items_[depth_ - 1] = true;
}

void JsonWriter::after_container_closed() {
  if (depth_ == 0) root_written_ = true;
}

JsonWriter& JsonWriter::begin_object() {
  before_value();
  CP_ASSERT(depth_ < kDepthMax);
  out_->push_back('{');
  in_object_[depth_] = true;
  has_items_[depth_] = false;
  ++depth_;
  return *this;
}

JsonWriter& JsonWriter::end_object() {
  CP_ASSERT(depth_ > 0 && in_object_[depth_ - 1] && !after_key_);
  out_->push_back('}');
  --depth_;
  after_container_closed();
  return *this;
}

JsonWriter& JsonWriter::begin_array() {
  before_value();
  CP_ASSERT(depth_ < kDepthMax);
  out_->push_back('[');
  in_object_[depth_] = false;
  has_items_[depth_] = false;
  ++depth_;
  return *this;
}

JsonWriter& JsonWriter::end_array() {
  CP_ASSERT(depth_ > 0 && !in_object_[depth_ - 1]);
  out_->push_back(']');
  --depth_;
  after_container_closed();
  return *this;
}

JsonWriter& JsonWriter::key(std::string_view name) {
  CP_ASSERT(depth_ > 0 && in_object_[depth_ - 1] && !after_key_);
  if (has_items_[depth_ - 1]) out_->push_back(',');
  has_items_[depth_ - 1] = true;
  append_json_string(name, *out_);
  out_->push_back(':');
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::string(std::string_view text) {
  before_value();
  append_json_string(text, *out_);
  after_container_closed();
  return *this;
}

JsonWriter& JsonWriter::signed_number(int64_t value) {
  before_value();
  fmt::format_to(std::back_inserter(*out_), "{}", value);
  after_container_closed();
  return *this;
}

JsonWriter& JsonWriter::unsigned_number(uint64_t value) {
  before_value();
  fmt::format_to(std::back_inserter(*out_), "{}", value);
  after_container_closed();
  return *this;
}

JsonWriter& JsonWriter::number(double value) {
  if (!std::isfinite(value)) return null();
  before_value();
  fmt::format_to(std::back_inserter(*out_), "{}", value);
  after_container_closed();
  return *this;
}

JsonWriter& JsonWriter::boolean(bool value) {
  return raw(value ? "true" : "false");
}
JsonWriter& JsonWriter::null() {
  return raw("null");
}

JsonWriter& JsonWriter::raw(std::string_view json) {
  before_value();
  out_->append(json);
  after_container_closed();
  return *this;
}

void JsonWriter::clear() {
  out_->resize(start_);
  depth_ = 0;
  root_written_ = false;
  after_key_ = false;
}

// ---- requests ---------------------------------------------------------------------------------

struct DecodeScratch::Impl {
  simdjson::dom::parser parser{kFrameBodyBytesMax};
  std::string padded;
  std::vector<ControlArg> args;
};

DecodeScratch::DecodeScratch() : impl_(std::make_unique<Impl>()) {
  impl_->args.reserve(kArgsMax);
}
DecodeScratch::~DecodeScratch() = default;

Result<ControlRequest, DecodeError> decode_request(std::span<const std::byte> body,
                                                   DecodeScratch& scratch) {
  DecodeScratch::Impl& s = *scratch.impl_;
  if (body.empty()) return fail(decode_error(ProtocolError::frame_empty, 0, "empty request"));
  if (body.size() > kFrameBodyBytesMax) {
    return fail(decode_error(ProtocolError::frame_too_large, 0, "request larger than 1 MiB"));
  }
  simdjson::dom::element root;
  if (auto err = parse_padded(s.parser, s.padded, body, root); err != simdjson::SUCCESS) {
    return fail(decode_error(ProtocolError::bad_json, 0,
                             std::string("not valid JSON: ") + simdjson::error_message(err)));
  }
  simdjson::dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) {
    return fail(decode_error(ProtocolError::not_an_object, 0, "a request must be a JSON object"));
  }
  const uint64_t id = peek_id(object);
  ControlRequest request;
  s.args.clear();
  bool seen_id = false, seen_cmd = false, seen_args = false;
  for (auto [key, value] : object) {
    bool* seen = key == "id"     ? &seen_id
                 : key == "cmd"  ? &seen_cmd
                 : key == "args" ? &seen_args
                                 : nullptr;
    if (!seen) {
      return fail(decode_error(ProtocolError::unknown_field, id,
                               "unknown field " + quote_key(key) + " (expected id, cmd, args)"));
    }
    if (*seen) {
      return fail(decode_error(ProtocolError::duplicate_field, id,
                               "field " + quote_key(key) + " given twice"));
    }
    *seen = true;
    if (seen == &seen_id) {
      if (value.get_uint64().get(request.id) != simdjson::SUCCESS) {
        return fail(
            decode_error(ProtocolError::bad_id, 0, "id must be an unsigned 64-bit integer"));
      }
    } else if (seen == &seen_cmd) {
      if (value.get_string().get(request.cmd) != simdjson::SUCCESS) {
        return fail(decode_error(ProtocolError::bad_cmd, id, "cmd must be a string"));
      }
      if (!valid_command_name(request.cmd)) {
        return fail(decode_error(ProtocolError::bad_cmd, id,
                                 "cmd " + quote_key(request.cmd) +
                                     " is not a dotted name of letters, digits, '_' and '-'"));
      }
    } else {
      simdjson::dom::object args;
      if (value.get_object().get(args) != simdjson::SUCCESS) {
        return fail(decode_error(ProtocolError::bad_args, id, "args must be an object"));
      }
      if (auto r = decode_args(args, s.args, id); !r) return fail(std::move(r.error()));
    }
  }
  if (!seen_id) return fail(decode_error(ProtocolError::bad_id, 0, "missing field \"id\""));
  if (!seen_cmd) return fail(decode_error(ProtocolError::bad_cmd, id, "missing field \"cmd\""));
  request.args = s.args;
  return request;
}

bool encode_request(uint64_t id, std::string_view cmd,
                    std::span<const std::pair<std::string, std::string>> args, std::string& out) {
  const size_t at = begin_frame(out);
  JsonWriter w(out);
  w.begin_object().field("id", id).field("cmd", cmd).key("args").begin_object();
  for (const auto& [key, value] : args) w.field(key, value);
  w.end_object().end_object();
  if (out.size() - at - kFrameHeaderBytes > kFrameBodyBytesMax) {
    out.resize(at);
    return false;
  }
  end_frame(out, at);
  return true;
}

const ControlArg* ControlRequest::find(std::string_view key) const {
  for (const ControlArg& a : args) {
    if (a.key == key) return &a;
  }
  return nullptr;
}

Result<std::string_view, std::string> ControlRequest::string_arg(std::string_view key) const {
  const ControlArg* a = find(key);
  if (!a) return fail(fmt::format("missing argument '{}'", key));
  if (a->kind != ControlArg::Kind::string) {
    return fail(fmt::format("argument '{}' must be a string", key));
  }
  return a->text;
}

Result<int64_t, std::string> ControlRequest::int_arg(std::string_view key) const {
  const ControlArg* a = find(key);
  if (!a) return fail(fmt::format("missing argument '{}'", key));
  if (a->kind == ControlArg::Kind::integer) return a->integer;
  if (a->kind == ControlArg::Kind::string) {
    int64_t value = 0;
    const char* end = a->text.data() + a->text.size();
    const auto [ptr, ec] = std::from_chars(a->text.data(), end, value);
    if (ec == std::errc() && ptr == end && !a->text.empty()) return value;
  }
  return fail(fmt::format("argument '{}' must be an integer", key));
}

Result<bool, std::string> ControlRequest::bool_arg(std::string_view key) const {
  const ControlArg* a = find(key);
  if (!a) return fail(fmt::format("missing argument '{}'", key));
  if (a->kind == ControlArg::Kind::boolean) return a->boolean;
  if (a->kind == ControlArg::Kind::string) {
    if (a->text == "true" || a->text == "1") return true;
    if (a->text == "false" || a->text == "0") return false;
  }
  return fail(fmt::format("argument '{}' must be true or false", key));
}

// ---- responses --------------------------------------------------------------------------------

void encode_ok_response(uint64_t id, std::string_view result_json, std::string& out) {
  // {"id":N,"ok":true,"result":R} is at most 60 bytes around R.
  constexpr size_t kEnvelopeBytesMax = 64;
  if (result_json.size() > kFrameBodyBytesMax - kEnvelopeBytesMax) {
    encode_error_response(
        id, error_code::result_too_large,
        fmt::format("the result ({} bytes) does not fit in a 1 MiB frame", result_json.size()),
        out);
    return;
  }
  const size_t at = begin_frame(out);
  JsonWriter w(out);
  w.begin_object().field("id", id).field("ok", true).key("result");
  w.raw(result_json.empty() ? std::string_view("null") : result_json);
  w.end_object();
  end_frame(out, at);
}

void encode_error_response(uint64_t id, std::string_view code, std::string_view message,
                           std::string& out) {
  constexpr size_t kMessageBytesMax = 64 * 1024;  // escaping may grow it by 6x: still < 1 MiB
  const size_t at = begin_frame(out);
  JsonWriter w(out);
  w.begin_object().field("id", id).field("ok", false);
  w.field("error", message.substr(0, kMessageBytesMax)).field("code", code).end_object();
  end_frame(out, at);
}

Result<ControlResponse, DecodeError> decode_response(std::span<const std::byte> body) {
  simdjson::dom::parser parser(kFrameBodyBytesMax);
  std::string padded;
  simdjson::dom::element root;
  if (auto err = parse_padded(parser, padded, body, root); err != simdjson::SUCCESS) {
    return fail(
        decode_error(ProtocolError::bad_json, 0,
                     std::string("response is not valid JSON: ") + simdjson::error_message(err)));
  }
  simdjson::dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) {
    return fail(decode_error(ProtocolError::not_an_object, 0, "response is not a JSON object"));
  }
  ControlResponse response;
  if (object.at_key("id").get_uint64().get(response.id) != simdjson::SUCCESS ||
      object.at_key("ok").get_bool().get(response.ok) != simdjson::SUCCESS) {
    return fail(decode_error(ProtocolError::bad_response, 0,
                             "response without an unsigned \"id\" and a boolean \"ok\""));
  }
  simdjson::dom::element result;
  if (object.at_key("result").get(result) == simdjson::SUCCESS) {
    response.result_json = simdjson::to_string(result);
  }
  std::string_view text;
  if (object.at_key("error").get_string().get(text) == simdjson::SUCCESS) response.error = text;
  if (object.at_key("code").get_string().get(text) == simdjson::SUCCESS) response.code = text;
  if (!response.ok && response.error.empty()) response.error = "(no error message)";
  return response;
}

}  // namespace cp::ctl
