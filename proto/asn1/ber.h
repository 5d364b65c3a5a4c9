// ASN.1 BER reading and DER writing (ITU-T X.690), the small part RSPRO needs: identifier octets
// (low and high tag numbers), definite lengths in short and long form, indefinite lengths
// (constructed only, ended by 00 00), INTEGER / ENUMERATED / BOOLEAN / OCTET STRING contents.
// The reader walks a buffer without copying; the writer emits DER (minimal lengths and
// integers, definite lengths, BOOLEAN TRUE as FF).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace cp::proto::asn1 {

enum class Class : uint8_t { universal = 0, application = 1, context = 2, priv = 3 };

// Universal tag numbers used here.
inline constexpr uint32_t kBoolean = 1;
inline constexpr uint32_t kInteger = 2;
inline constexpr uint32_t kOctetString = 4;
inline constexpr uint32_t kEnumerated = 10;
inline constexpr uint32_t kSequence = 16;
inline constexpr uint32_t kIa5String = 22;

struct Tag {
  Class cls = Class::universal;
  bool constructed = false;
  uint32_t number = 0;
  bool operator==(const Tag&) const = default;
};
constexpr Tag universal(uint32_t n, bool constructed = false) {
  return {Class::universal, constructed, n};
}
constexpr Tag context(uint32_t n, bool constructed = false) {
  return {Class::context, constructed, n};
}

// One element: its tag and its contents (for an indefinite length, the contents without the
// end-of-contents octets).
struct Element {
  Tag tag;
  std::span<const std::byte> contents;
};

inline constexpr int kDepthMax = 24;

// Reads the elements of a constructed value (or a whole buffer) one after the other.
class Reader {
 public:
  explicit Reader(std::span<const std::byte> bytes) : rest_(bytes) {}
  bool empty() const { return rest_.empty(); }
  // The next element; an error for anything malformed or running past the buffer.
  Result<Element, std::string_view> next();
  // The next element if it has `tag` (nothing consumed otherwise).
  Result<std::optional<Element>, std::string_view> next_if(Tag tag);

 private:
  std::span<const std::byte> rest_;
};

// Element contents as values. Errors for an empty or oversized INTEGER, a BOOLEAN not 1 octet.
Result<int64_t, std::string_view> as_integer(std::span<const std::byte> contents);
Result<bool, std::string_view> as_boolean(std::span<const std::byte> contents);

// Builds DER. Constructed values: begin(tag) ... end(); lengths are patched in at end().
class Writer {
 public:
  void integer(Tag tag, int64_t value);
  void boolean(Tag tag, bool value);
  void octets(Tag tag, std::span<const std::byte> value);
  void string(Tag tag, std::string_view value);
  void begin(Tag tag);
  void end();
  // Bytes written as they are (a framing header in front of the DER, say).
  void raw(std::span<const std::byte> bytes);
  std::vector<std::byte> take() { return std::move(out_); }
  const std::vector<std::byte>& bytes() const { return out_; }
  std::vector<std::byte>& buffer() { return out_; }
  // Starts over in `reuse` (emptied, its capacity kept): no allocation once it is big enough.
  explicit Writer(std::vector<std::byte>&& reuse = {}) : out_(std::move(reuse)) { out_.clear(); }

 private:
  void identifier(Tag tag);
  void length(size_t n);
  static constexpr size_t kDepthMax = 16;
  std::vector<std::byte> out_;
  std::array<size_t, kDepthMax> open_{};  // content start of each open constructed value
  size_t depth_ = 0;
};

}  // namespace cp::proto::asn1
