// The simulator's trace: every packet and connection event is folded into a 64-bit running hash
// (so a test can assert "same seed => same run") and, optionally, kept as a text line in a
// bounded ring of the most recent lines (printed when a simulated test fails).
// Owned by one SimNetwork and used from the thread that drives it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace cp::sim {

class SimTrace {
 public:
  static constexpr size_t kLineBytesMax = 128;

  // Keeps the last `lines_max` lines of text; 0 keeps only the hash.
  explicit SimTrace(uint32_t lines_max);

  void fold(uint64_t value);
  bool text_enabled() const { return lines_max_ > 0; }
  // Appends one line (cut at kLineBytesMax - 1); the oldest line goes when the ring is full.
  void append_line(std::string_view line);
  void count_event() { ++events_; }

  uint64_t hash() const { return hash_; }
  uint64_t events() const { return events_; }
  // The kept lines, oldest first, after a header saying how many earlier lines were dropped.
  std::string text() const;

 private:
  uint32_t lines_max_;
  uint64_t lines_appended_ = 0;
  uint64_t events_ = 0;
  uint64_t hash_ = 0xcbf29ce484222325ULL;
  std::unique_ptr<char[]> lines_;          // lines_max_ * kLineBytesMax
  std::unique_ptr<uint8_t[]> line_bytes_;  // length of each kept line
};

}  // namespace cp::sim
