// Appending text into a fixed, caller-owned span: the one output primitive of the HTTP response
// builder and the Prometheus writer. It never allocates; the first append that does not fit sets
// a sticky overflow flag and drops it (and everything after), so a producer writes freely and
// checks overflowed() once at the end.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

namespace cp::proto::http {

class SpanWriter {
 public:
  SpanWriter() = default;
  explicit SpanWriter(std::span<char> out) : out_(out) {}

  bool append(std::string_view text) {
    if (overflowed_ || text.size() > out_.size() - size_) return fail();
    if (!text.empty()) std::memcpy(out_.data() + size_, text.data(), text.size());
    size_ += text.size();
    return true;
  }
  bool append(char c) {
    if (overflowed_ || size_ == out_.size()) return fail();
    out_[size_++] = c;
    return true;
  }
  bool append_decimal(uint64_t value) { return append_number(value); }
  bool append_decimal(int64_t value) { return append_number(value); }

  // Direct access for producers that format in place: write into room(), then commit(n).
  std::span<char> room() const { return overflowed_ ? std::span<char>{} : out_.subspan(size_); }
  bool commit(size_t n) {
    if (overflowed_ || n > out_.size() - size_) return fail();
    size_ += n;
    return true;
  }
  // Marks the output as overflowed (a producer found it could not finish).
  bool fail() {
    overflowed_ = true;
    return false;
  }

  size_t size() const { return size_; }
  size_t capacity() const { return out_.size(); }
  bool overflowed() const { return overflowed_; }
  std::string_view view() const { return {out_.data(), size_}; }
  void clear() {
    size_ = 0;
    overflowed_ = false;
  }

 private:
  template <typename T>
  bool append_number(T value) {
    if (overflowed_) return false;
    auto [end, ec] = std::to_chars(out_.data() + size_, out_.data() + out_.size(), value);
    if (ec != std::errc{}) return fail();
    size_ = static_cast<size_t>(end - out_.data());
    return true;
  }

  std::span<char> out_;
  size_t size_ = 0;
  bool overflowed_ = false;
};

}  // namespace cp::proto::http
