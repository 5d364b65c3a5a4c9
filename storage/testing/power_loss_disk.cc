#include "storage/testing/power_loss_disk.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace cp::storage {

class PowerLossFile final : public ShardFile {
 public:
  explicit PowerLossFile(PowerLossDisk& disk) : disk_(disk) {}
  const std::string& path() const override { return disk_.path_; }
  int size(uint64_t& bytes) override {
    bytes = disk_.visible_size();
    return 0;
  }
  int read(uint64_t offset, std::span<std::byte> out, size_t& got) override {
    const uint64_t size = disk_.visible_size();
    got = offset >= size ? 0 : static_cast<size_t>(std::min<uint64_t>(out.size(), size - offset));
    std::memset(out.data(), 0, got);
    if (offset < disk_.durable_.size()) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(got, disk_.durable_.size() - offset));
      std::memcpy(out.data(), disk_.durable_.data() + offset, n);
    }
    constexpr size_t kSector = PowerLossDisk::kSector;
    const auto first = disk_.overlay_.lower_bound(offset / kSector);
    for (auto it = first; it != disk_.overlay_.end() && it->first * kSector < offset + got; ++it) {
      const uint64_t at = it->first * kSector;
      const uint64_t from = std::max(at, offset);
      const uint64_t to = std::min<uint64_t>(at + kSector, offset + got);
      std::memcpy(out.data() + (from - offset), it->second.data() + (from - at), to - from);
    }
    return 0;
  }
  int write(const FileWrite& w) override {
    if (!disk_.call()) return -EIO;
    constexpr size_t kSector = PowerLossDisk::kSector;
    for (size_t off = 0; off < w.bytes.size(); off += kSector) {
      const auto* p = w.bytes.data() + off;
      disk_.overlay_[(w.offset + off) / kSector].assign(p, p + kSector);
    }
    disk_.volatile_size_ = std::max<uint64_t>(disk_.volatile_size_, w.offset + w.bytes.size());
    return 0;
  }
  int datasync() override {
    if (!disk_.call()) return -EIO;
    for (const auto& [sector, bytes] : disk_.overlay_) disk_.land(sector, bytes);
    disk_.overlay_.clear();
    if (disk_.durable_.size() < disk_.volatile_size_) disk_.durable_.resize(disk_.volatile_size_);
    return 0;
  }
  int sync_directory() override {
    if (!disk_.call()) return -EIO;
    disk_.entry_durable_ = true;
    return 0;
  }

 private:
  PowerLossDisk& disk_;
};

std::unique_ptr<ShardFile> PowerLossDisk::open(bool create, bool* created) {
  if (created) *created = false;
  if (!exists_) {
    if (!create) return nullptr;
    exists_ = true;
    entry_durable_ = false;
    if (created) *created = true;
  }
  return std::make_unique<PowerLossFile>(*this);
}

bool PowerLossDisk::call() {
  if (dead()) return false;
  ++calls_;
  return true;
}

uint64_t PowerLossDisk::visible_size() const {
  return std::max<uint64_t>(durable_.size(), volatile_size_);
}

void PowerLossDisk::land(uint64_t sector, const Sector& bytes) {
  const uint64_t at = sector * kSector;
  if (durable_.size() < at + kSector) durable_.resize(at + kSector);
  std::memcpy(durable_.data() + at, bytes.data(), kSector);
}

std::vector<std::byte> PowerLossDisk::visible() const {
  std::vector<std::byte> out(visible_size());
  std::copy(durable_.begin(), durable_.end(), out.begin());
  for (const auto& [sector, bytes] : overlay_)
    std::memcpy(out.data() + sector * kSector, bytes.data(), kSector);
  return out;
}

PowerLossReport PowerLossDisk::power_loss(std::mt19937_64& rng, const PowerLossFaults& faults) {
  PowerLossReport rep;
  if (exists_ && !entry_durable_) {
    rep.file_lost = true;
    exists_ = false;
    durable_.clear();
  } else {
    // Where nothing durable lies (space the store appends into): garbage and misdirected
    // writes go only there. Over synced data they would be a device breaking the sector
    // atomicity the store is built on (docs/STORAGE.md, crash safety), or bit rot.
    auto fresh = [&](uint64_t sector) {
      const uint64_t at = sector * kSector;
      if (at >= durable_.size()) return true;
      const auto* p = durable_.data() + at;
      return std::all_of(p, p + std::min<uint64_t>(kSector, durable_.size() - at),
                         [](std::byte b) { return b == std::byte{0}; });
    };
    std::vector<uint64_t> fresh_sectors;
    for (const auto& [sector, bytes] : overlay_)
      if (fresh(sector)) fresh_sectors.push_back(sector);
    for (const auto& [sector, bytes] : overlay_) {
      const bool may_damage =
          std::binary_search(fresh_sectors.begin(), fresh_sectors.end(), sector);
      const unsigned total =
          faults.lost + faults.landed + (may_damage ? faults.garbage + faults.misdirected : 0);
      unsigned pick = total == 0 ? 0 : static_cast<unsigned>(rng() % total);
      if (pick < faults.lost) {
        ++rep.lost;
        continue;
      }
      pick -= faults.lost;
      if (pick < faults.landed) {
        ++rep.landed;
        land(sector, bytes);
        continue;
      }
      pick -= faults.landed;
      if (pick < faults.garbage) {
        ++rep.garbage;
        Sector torn = bytes;  // some bytes new, the rest noise
        const size_t from = static_cast<size_t>(rng() % kSector);
        for (size_t i = from; i < kSector; ++i) torn[i] = static_cast<std::byte>(rng());
        land(sector, torn);
        continue;
      }
      ++rep.misdirected;
      land(fresh_sectors[rng() % fresh_sectors.size()], bytes);
    }
  }
  overlay_.clear();
  volatile_size_ = durable_.size();
  restart();
  return rep;
}

}  // namespace cp::storage
