#include "engine/sim/sim_trace.h"

#include <cstring>

#include "engine/sim/sim_random.h"

namespace cp::sim {

SimTrace::SimTrace(uint32_t lines_max) : lines_max_(lines_max) {
  if (lines_max_ > 0) {
    lines_ = std::make_unique<char[]>(size_t{lines_max_} * kLineBytesMax);
    line_bytes_ = std::make_unique<uint8_t[]>(lines_max_);
  }
}

void SimTrace::fold(uint64_t value) {
  hash_ = hash_fold(hash_, value);
}

void SimTrace::append_line(std::string_view line) {
  if (lines_max_ == 0) return;
  const size_t slot = lines_appended_ % lines_max_;
  const size_t bytes = line.size() < kLineBytesMax - 1 ? line.size() : kLineBytesMax - 1;
  std::memcpy(&lines_[slot * kLineBytesMax], line.data(), bytes);
  line_bytes_[slot] = static_cast<uint8_t>(bytes);
  ++lines_appended_;
}

std::string SimTrace::text() const {
  std::string out;
  const uint64_t kept = lines_appended_ < lines_max_ ? lines_appended_ : lines_max_;
  const uint64_t first = lines_appended_ - kept;
  out += "sim trace: " + std::to_string(events_) + " events, hash " + std::to_string(hash_);
  if (first > 0) out += ", " + std::to_string(first) + " earlier lines not kept";
  out += '\n';
  for (uint64_t i = first; i < lines_appended_; ++i) {
    const size_t slot = i % lines_max_;
    out.append(&lines_[slot * kLineBytesMax], line_bytes_[slot]);
    out += '\n';
  }
  return out;
}

}  // namespace cp::sim
