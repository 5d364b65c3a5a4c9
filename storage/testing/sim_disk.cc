#include "storage/testing/sim_disk.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "base/assert.h"

namespace cp::storage {

class SimDiskIo final : public ShardIo {
 public:
  SimDiskIo(SimDisk& disk, bool auto_complete) : disk_(disk), auto_complete_(auto_complete) {}
  const std::string& path() const override { return disk_.name_; }
  Result<uint64_t, std::string> size() override { return uint64_t{disk_.durable_.size()}; }
  Result<void, std::string> read(uint64_t offset, std::span<std::byte> out) override {
    assert_aligned(FileWrite{offset, out});
    // Reads see the durable content; in-flight writes are not yet visible (a valid choice for
    // a real device too, and the only one recovery may rely on).
    std::memset(out.data(), 0, out.size());
    if (offset < disk_.durable_.size()) {
      const size_t n = std::min<uint64_t>(out.size(), disk_.durable_.size() - offset);
      std::memcpy(out.data(), disk_.durable_.data() + offset, n);
    }
    return {};
  }
  Result<void, std::string> write_durable(std::span<const FileWrite> writes) override {
    for (const FileWrite& w : writes) {
      assert_aligned(w);
      disk_.apply(disk_.durable_, w);
    }
    return {};
  }
  void start_extend(std::span<const FileWrite> zeros, ExtendListener& listener) override {
    // Zeros beyond the log: durable at once (a crash can only leave zeros or nothing there).
    for (const FileWrite& w : zeros) {
      assert_aligned(w);
      disk_.apply(disk_.durable_, w);
    }
    listener.on_extend_done(0);
  }
  void start_commit(std::span<const FileWrite> writes, CommitListener& listener) override {
    CP_ASSERT(disk_.listener_ == nullptr);
    for (const FileWrite& w : writes) {
      assert_aligned(w);
      disk_.in_flight_.push_back({w.offset, {w.bytes.begin(), w.bytes.end()}});
    }
    disk_.listener_ = &listener;
    if (auto_complete_) disk_.complete_commit(0);
  }

 private:
  SimDisk& disk_;
  bool auto_complete_;
};

std::unique_ptr<ShardIo> SimDisk::open(bool auto_complete) {
  return std::make_unique<SimDiskIo>(*this, auto_complete);
}

void SimDisk::apply(std::vector<std::byte>& image, const FileWrite& w) const {
  if (image.size() < w.offset + w.bytes.size()) image.resize(w.offset + w.bytes.size());
  std::memcpy(image.data() + w.offset, w.bytes.data(), w.bytes.size());
}

void SimDisk::complete_commit(int32_t result) {
  CP_ASSERT(listener_ != nullptr);
  if (fail_next_ != 0) {
    result = fail_next_;
    fail_next_ = 0;
  }
  if (result == 0) {
    for (const Pending& p : in_flight_) apply(durable_, {p.offset, p.bytes});
  }
  in_flight_.clear();
  ++commits_;
  CommitListener* l = listener_;
  listener_ = nullptr;
  l->on_commit_done(result);
}

size_t SimDisk::in_flight_sectors() const {
  size_t n = 0;
  for (const Pending& p : in_flight_) n += p.bytes.size() / kSectorBytes;
  return n;
}

std::vector<std::byte> SimDisk::crash_image(const std::function<bool(size_t)>& landed) {
  std::vector<std::byte> image = durable_;
  size_t sector = 0;
  for (const Pending& p : in_flight_) {
    for (size_t off = 0; off < p.bytes.size(); off += kSectorBytes, ++sector) {
      if (!landed(sector)) continue;
      const std::span<const std::byte> bytes(p.bytes.data() + off, kSectorBytes);
      const uint64_t at = p.offset + off;
      if (image.size() < at + kSectorBytes) image.resize(at + kSectorBytes);
      std::memcpy(image.data() + at, bytes.data(), kSectorBytes);
    }
  }
  in_flight_.clear();
  if (CommitListener* l = std::exchange(listener_, nullptr)) l->on_commit_done(-ECANCELED);
  return image;
}

void SimDisk::restore(std::vector<std::byte> image) {
  CP_ASSERT(listener_ == nullptr);
  durable_ = std::move(image);
}

}  // namespace cp::storage
