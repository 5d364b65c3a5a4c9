#include "proto/asn1/ber.h"

#include <algorithm>

#include "base/assert.h"

#include <cstring>

namespace cp::proto::asn1 {

namespace {

struct Header {
  Tag tag;
  size_t header_bytes = 0;
  std::optional<size_t> length;  // nullopt: indefinite
};

Result<Header, std::string_view> read_header(std::span<const std::byte> b) {
  Header h;
  size_t i = 0;
  if (b.empty()) return fail(std::string_view("missing identifier"));
  const auto id = static_cast<uint8_t>(b[i++]);
  h.tag.cls = static_cast<Class>(id >> 6);
  h.tag.constructed = (id & 0x20) != 0;
  uint32_t number = id & 0x1F;
  if (number == 0x1F) {
    // High tag number: base-128 digits, the last without bit 8.
    number = 0;
    for (int n = 0;; ++n) {
      if (i >= b.size()) return fail(std::string_view("tag number cut short"));
      if (n == 4) return fail(std::string_view("tag number too large"));
      const auto d = static_cast<uint8_t>(b[i++]);
      number = (number << 7) | (d & 0x7F);
      if (!(d & 0x80)) break;
    }
  }
  h.tag.number = number;
  if (i >= b.size()) return fail(std::string_view("missing length"));
  const auto l = static_cast<uint8_t>(b[i++]);
  if (l < 0x80) {
    h.length = l;
  } else if (l == 0x80) {
    if (!h.tag.constructed) return fail(std::string_view("indefinite length on a primitive"));
    h.length = std::nullopt;
  } else {
    const size_t n = l & 0x7F;
    if (n > 4) return fail(std::string_view("length of more than 4 octets"));
    size_t len = 0;
    for (size_t k = 0; k < n; ++k) {
      if (i >= b.size()) return fail(std::string_view("length cut short"));
      len = (len << 8) | static_cast<uint8_t>(b[i++]);
    }
    h.length = len;
  }
  h.header_bytes = i;
  return h;
}

// The whole element at the front of `b` (header + contents [+ EOC]) and its contents.
Result<std::pair<size_t, Element>, std::string_view> read_element(std::span<const std::byte> b,
                                                                  int depth) {
  if (depth > kDepthMax) return fail(std::string_view("nesting too deep"));
  auto h = read_header(b);
  if (!h) return fail(h.error());
  const auto rest = b.subspan(h->header_bytes);
  if (h->length) {
    if (*h->length > rest.size()) return fail(std::string_view("contents run past the end"));
    return std::pair{h->header_bytes + *h->length, Element{h->tag, rest.first(*h->length)}};
  }
  // Indefinite: walk the children until end-of-contents.
  size_t at = 0;
  while (true) {
    if (rest.size() - at >= 2 && rest[at] == std::byte{0} && rest[at + 1] == std::byte{0})
      return std::pair{h->header_bytes + at + 2, Element{h->tag, rest.first(at)}};
    if (at >= rest.size()) return fail(std::string_view("no end-of-contents"));
    auto child = read_element(rest.subspan(at), depth + 1);
    if (!child) return fail(child.error());
    at += child->first;
  }
}

}  // namespace

Result<Element, std::string_view> Reader::next() {
  auto e = read_element(rest_, 0);
  if (!e) return fail(e.error());
  rest_ = rest_.subspan(e->first);
  return e->second;
}

Result<std::optional<Element>, std::string_view> Reader::next_if(Tag tag) {
  if (rest_.empty()) return std::optional<Element>{};
  auto h = read_header(rest_);
  if (!h) return fail(h.error());
  if (!(h->tag == tag)) return std::optional<Element>{};
  auto e = next();
  if (!e) return fail(e.error());
  return std::optional<Element>{*e};
}

Result<int64_t, std::string_view> as_integer(std::span<const std::byte> c) {
  if (c.empty()) return fail(std::string_view("empty INTEGER"));
  if (c.size() > 8) return fail(std::string_view("INTEGER beyond 64 bits"));
  int64_t v = (static_cast<int8_t>(c[0]) < 0) ? -1 : 0;
  for (std::byte b : c)
    v = static_cast<int64_t>((static_cast<uint64_t>(v) << 8) | static_cast<uint8_t>(b));
  return v;
}

Result<bool, std::string_view> as_boolean(std::span<const std::byte> c) {
  if (c.size() != 1) return fail(std::string_view("BOOLEAN not one octet"));
  return c[0] != std::byte{0};
}

void Writer::identifier(Tag tag) {
  const auto head =
      static_cast<uint8_t>((static_cast<uint8_t>(tag.cls) << 6) | (tag.constructed ? 0x20 : 0));
  if (tag.number < 31) {
    out_.push_back(static_cast<std::byte>(head | tag.number));
    return;
  }
  out_.push_back(static_cast<std::byte>(head | 0x1F));
  uint8_t digits[5];
  int n = 0;
  for (uint32_t v = tag.number; v; v >>= 7) digits[n++] = static_cast<uint8_t>(v & 0x7F);
  while (n-- > 0) out_.push_back(static_cast<std::byte>(digits[n] | (n ? 0x80 : 0)));
}

void Writer::length(size_t n) {
  if (n < 0x80) {
    out_.push_back(static_cast<std::byte>(n));
    return;
  }
  uint8_t digits[8];
  int k = 0;
  for (size_t v = n; v; v >>= 8) digits[k++] = static_cast<uint8_t>(v);
  out_.push_back(static_cast<std::byte>(0x80 | k));
  while (k-- > 0) out_.push_back(static_cast<std::byte>(digits[k]));
}

void Writer::integer(Tag tag, int64_t value) {
  uint8_t bytes[8];
  for (int i = 0; i < 8; ++i)
    bytes[i] = static_cast<uint8_t>(static_cast<uint64_t>(value) >> (56 - 8 * i));
  int start = 0;
  // Minimal two's complement: drop leading octets that only repeat the sign.
  while (start < 7 && ((bytes[start] == 0x00 && !(bytes[start + 1] & 0x80)) ||
                       (bytes[start] == 0xFF && (bytes[start + 1] & 0x80))))
    ++start;
  identifier(tag);
  length(static_cast<size_t>(8 - start));
  for (int i = start; i < 8; ++i) out_.push_back(static_cast<std::byte>(bytes[i]));
}

void Writer::boolean(Tag tag, bool value) {
  identifier(tag);
  length(1);
  out_.push_back(value ? std::byte{0xFF} : std::byte{0});
}

void Writer::octets(Tag tag, std::span<const std::byte> value) {
  identifier(tag);
  length(value.size());
  out_.insert(out_.end(), value.begin(), value.end());
}

void Writer::string(Tag tag, std::string_view value) {
  octets(tag, std::as_bytes(std::span(value.data(), value.size())));
}

void Writer::raw(std::span<const std::byte> bytes) {
  for (std::byte b : bytes) out_.push_back(b);
}

void Writer::begin(Tag tag) {
  tag.constructed = true;
  identifier(tag);
  out_.push_back(std::byte{0});  // placeholder: one length octet, widened at end() if needed
  CP_ASSERT(depth_ < kDepthMax);
  open_[depth_++] = out_.size();
}

void Writer::end() {
  CP_ASSERT(depth_ > 0);
  const size_t start = open_[--depth_];
  const size_t n = out_.size() - start;
  if (n < 0x80) {
    out_[start - 1] = static_cast<std::byte>(n);
    return;
  }
  std::byte len[sizeof(size_t)];
  size_t k = 0;
  for (size_t v = n; v; v >>= 8) len[k++] = static_cast<std::byte>(v);
  std::reverse(len, len + k);
  out_[start - 1] = static_cast<std::byte>(0x80 | k);
  out_.insert(out_.begin() + static_cast<long>(start), len, len + k);
}

}  // namespace cp::proto::asn1
