#include "storage/split.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "base/log.h"
#include "storage/record.h"
#include "storage/shard.h"
#include "storage/shard_io.h"

namespace cp::storage {
namespace {

namespace fs = std::filesystem;
constexpr size_t kChunkBytes = 4 << 20;

std::string sys_error(const std::string& what, const std::string& path) {
  return path + ": " + what + ": " + std::strerror(errno);
}

// An fd closed on scope exit.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

Result<void, std::string> fsync_dir(const std::string& dir) {
  Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.fd < 0 || ::fsync(d.fd) != 0) return fail(sys_error("fsync", dir));
  return {};
}

Result<void, std::string> read_all(int fd, uint64_t offset, std::span<std::byte> out,
                                   const std::string& path) {
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n =
        ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(sys_error("read", path));
    if (n == 0) return fail(path + ": unexpected end of file");
    done += static_cast<size_t>(n);
  }
  return {};
}

Result<void, std::string> write_all(int fd, std::span<const std::byte> bytes,
                                    const std::string& path) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(sys_error("write", path));
    done += static_cast<size_t>(n);
  }
  return {};
}

// Takes a shard directory's lock for the life of the object (the daemon holds the same lock).
Result<std::unique_ptr<Fd>, std::string> lock_shard(const std::string& shard_dir) {
  const std::string path = shard_dir + "/lock";
  auto fd = std::make_unique<Fd>(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640));
  if (fd->fd < 0) return fail(sys_error("open", path));
  if (::flock(fd->fd, LOCK_EX | LOCK_NB) != 0)
    return fail(shard_dir + ": in use (stop cellplaned first: the split is an offline operation)");
  return fd;
}

// Copies [from, from + bytes) of `src` to the end of `dst`, checking each record against
// `check_record(slot, record)` (slot counted from `first_slot`), reporting progress; returns
// the CRC32C of each chunk for the read-back verification.
template <typename Check>
Result<std::vector<uint32_t>, std::string> copy_range(int src, const std::string& src_path,
                                                      uint64_t from, uint64_t bytes, int dst,
                                                      const std::string& dst_path,
                                                      uint64_t first_slot, Check&& check_record,
                                                      const std::function<void(uint64_t)>& done) {
  std::vector<std::byte> buf(kChunkBytes);
  std::vector<uint32_t> crcs;
  for (uint64_t off = 0; off < bytes; off += kChunkBytes) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kChunkBytes, bytes - off));
    if (auto ok = read_all(src, from + off, {buf.data(), n}, src_path); !ok)
      return fail(ok.error());
    const auto* records = reinterpret_cast<const SmRecord*>(buf.data());
    for (size_t i = 0; i < n / kRecordBytes; ++i) {
      if (auto ok = check_record(first_slot + off / kRecordBytes + i, records[i]); !ok)
        return fail(ok.error());
    }
    if (auto ok = write_all(dst, {buf.data(), n}, dst_path); !ok) return fail(ok.error());
    crcs.push_back(crc32c({buf.data(), n}));
    done(n);
  }
  if (::fsync(dst) != 0) return fail(sys_error("fsync", dst_path));
  return crcs;
}

// Reads `path` back and compares it chunk by chunk with the CRCs taken while writing it.
Result<void, std::string> verify_copy(const std::string& path, uint64_t bytes,
                                      const std::vector<uint32_t>& crcs) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.fd < 0) return fail(sys_error("open", path));
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0) return fail(sys_error("fstat", path));
  if (static_cast<uint64_t>(st.st_size) != bytes)
    return fail(
        fmt::format("{}: verification failed: {} bytes, expected {}", path, st.st_size, bytes));
  // The pages just written are cached; drop them so the check reads what reached the disk.
  ::posix_fadvise(fd.fd, 0, 0, POSIX_FADV_DONTNEED);
  std::vector<std::byte> buf(kChunkBytes);
  size_t i = 0;
  for (uint64_t off = 0; off < bytes; off += kChunkBytes, ++i) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kChunkBytes, bytes - off));
    if (auto ok = read_all(fd.fd, off, {buf.data(), n}, path); !ok) return fail(ok.error());
    if (i >= crcs.size() || crc32c({buf.data(), n}) != crcs[i])
      return fail(fmt::format("{}: verification failed at byte {}: the copy differs", path, off));
  }
  return {};
}

// The switch, journalled: split-pending names the new base index; each step is atomic and
// redoable, so resume_split() can finish from any point.
Result<void, std::string> finish_switch(const std::string& dir, uint64_t new_base,
                                        int stop_after_step) {
  const std::string next = dir + "/pms.bin.split";
  if (fs::exists(next)) {
    if (::rename(next.c_str(), (dir + "/pms.bin").c_str()) != 0)
      return fail(sys_error("rename", next));
    if (auto ok = fsync_dir(dir); !ok) return ok;
  }
  if (stop_after_step == 2) return fail(std::string("stopped after step 2 (test)"));
  if (auto ok = write_number_file(dir + "/base-index", new_base); !ok) return ok;
  if (stop_after_step == 3) return fail(std::string("stopped after step 3 (test)"));
  if (auto ok = write_number_file(dir + "/historical-mb", 0); !ok) return ok;
  const std::string pending = dir + "/" + kSplitPendingFile;
  if (::unlink(pending.c_str()) != 0) return fail(sys_error("unlink", pending));
  return fsync_dir(dir);
}

}  // namespace

Result<SplitReport, std::string> split_shard(const SplitOptions& o) {
  const std::string& dir = o.shard_dir;
  auto lock = lock_shard(dir);
  if (!lock) return fail(lock.error());
  if (fs::exists(dir + "/" + kSplitPendingFile))
    return fail(dir +
                ": an earlier split was interrupted; finish it with `pms-tool split "
                "--resume`");
  auto base = read_number_file(dir + "/base-index");
  if (!base) return fail(base.error());
  auto mark = read_number_file(dir + "/historical-mb");
  if (!mark) return fail(mark.error());
  const uint64_t mib = o.mib ? o.mib : *mark;
  if (mib == 0) return fail(dir + ": nothing to split: historical-mb is 0");
  if (mib > *mark)
    return fail(
        fmt::format("{}: only {} MiB are marked historical; refusing to move {}", dir, *mark, mib));

  const std::string src_path = dir + "/pms.bin";
  Fd src(::open(src_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (src.fd < 0) return fail(sys_error("open", src_path));
  struct stat st {};
  if (::fstat(src.fd, &st) != 0) return fail(sys_error("fstat", src_path));
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  const uint64_t move_bytes = mib << 20;
  if (size < move_bytes) return fail(fmt::format("{}: shorter than {} MiB", src_path, mib));
  ::posix_fadvise(src.fd, 0, 0, POSIX_FADV_SEQUENTIAL);

  SmRecord first;
  if (auto ok = read_all(src.fd, 0, {reinterpret_cast<std::byte*>(&first), sizeof first}, src_path);
      !ok)
    return fail(ok.error());
  if (check(first) != RecordCheck::valid)
    return fail(src_path + ": the first record is not valid; run `pms-tool verify`");
  SplitReport rep;
  rep.shard = message_shard(first.message_id);
  rep.records_moved = mib * kRecordsPerMiB;
  rep.new_base_index = *base + rep.records_moved;
  const std::string shard_name = "shard-" + std::to_string(rep.shard);
  rep.archive_shard_dir = o.archive_dir + "/" + shard_name;
  if (fs::exists(rep.archive_shard_dir))
    return fail(rep.archive_shard_dir +
                ": exists already (an archive of this shard, or an "
                "interrupted split: check and remove it, then re-run)");
  std::error_code ec;
  fs::create_directories(o.archive_dir, ec);
  if (ec) return fail(o.archive_dir + ": cannot create: " + ec.message());

  const std::string tmp_archive = o.archive_dir + "/." + shard_name + ".tmp";
  const std::string next_path = dir + "/pms.bin.split";
  fs::remove_all(tmp_archive, ec);
  fs::remove(next_path, ec);
  auto cleanup = [&] {
    std::error_code ignored;
    fs::remove_all(tmp_archive, ignored);
    fs::remove(next_path, ignored);
  };
  uint64_t done_bytes = 0;
  auto progress = [&](uint64_t n) {
    done_bytes += n;
    if (o.progress) o.progress(done_bytes, size);
  };
  auto expect = [&](uint64_t slot, const SmRecord& r,
                    bool historical) -> Result<void, std::string> {
    if (check(r) != RecordCheck::valid)
      return fail(
          fmt::format("{}: record at slot {} is damaged; nothing was changed (run "
                      "`pms-tool verify`)",
                      src_path, slot));
    if (r.message_id != make_message_id(rep.shard, *base + slot))
      return fail(fmt::format("{}: record at slot {} is message {}, expected {}:{}", src_path, slot,
                              r.message_id, rep.shard, *base + slot));
    if (historical && r.state != static_cast<uint8_t>(RecordState::historical))
      return fail(
          fmt::format("{}: record {} in the first {} MiB is still active; historical-mb "
                      "is wrong — nothing was changed",
                      src_path, *base + slot, mib));
    return {};
  };

  // 1. The archive: the first `mib` MiB, every record verified historical.
  fs::create_directories(tmp_archive, ec);
  if (ec) return fail(tmp_archive + ": cannot create: " + ec.message());
  {
    const std::string path = tmp_archive + "/pms.bin";
    Fd out(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
    if (out.fd < 0) return cleanup(), fail(sys_error("open", path));
    auto crcs = copy_range(
        src.fd, src_path, 0, move_bytes, out.fd, path, 0,
        [&](uint64_t slot, const SmRecord& r) { return expect(slot, r, true); }, progress);
    if (!crcs) return cleanup(), fail(crcs.error());
    if (auto ok = verify_copy(path, move_bytes, *crcs); !ok) return cleanup(), fail(ok.error());
    if (auto ok = write_number_file(tmp_archive + "/base-index", *base); !ok)
      return cleanup(), fail(ok.error());
    if (auto ok = write_number_file(tmp_archive + "/historical-mb", mib); !ok)
      return cleanup(), fail(ok.error());
  }
  // 2. The rest: records verified up to the end of the log, the zero-filled tail copied as is.
  {
    Fd out(::open(next_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
    if (out.fd < 0) return cleanup(), fail(sys_error("open", next_path));
    bool in_log = true;
    auto crcs = copy_range(
        src.fd, src_path, move_bytes, size - move_bytes, out.fd, next_path, mib * kRecordsPerMiB,
        [&](uint64_t slot, const SmRecord& r) -> Result<void, std::string> {
          if (!in_log) return {};
          if (check(r) != RecordCheck::valid) {
            in_log = false;  // the end of the log (what follows is recovery's business)
            return {};
          }
          ++rep.records_kept;
          return expect(slot, r, false);
        },
        progress);
    if (!crcs) return cleanup(), fail(crcs.error());
    if (auto ok = verify_copy(next_path, size - move_bytes, *crcs); !ok)
      return cleanup(), fail(ok.error());
  }
  if (::rename(tmp_archive.c_str(), rep.archive_shard_dir.c_str()) != 0)
    return cleanup(), fail(sys_error("rename", tmp_archive));
  if (auto ok = fsync_dir(o.archive_dir); !ok) return fail(ok.error());

  // 3. The switch (journalled).
  if (auto ok = write_number_file(dir + "/" + kSplitPendingFile, rep.new_base_index); !ok)
    return fail(ok.error());
  if (o.stop_after_step == 1) return fail(std::string("stopped after step 1 (test)"));
  if (auto ok = finish_switch(dir, rep.new_base_index, o.stop_after_step); !ok)
    return fail(ok.error());
  CP_LOG_NOTICE("split {}: {} records ({} MiB) moved to {}, {} kept; base-index now {}", dir,
                rep.records_moved, mib, rep.archive_shard_dir, rep.records_kept,
                rep.new_base_index);
  return rep;
}

Result<SplitReport, std::string> resume_split(const std::string& shard_dir) {
  auto lock = lock_shard(shard_dir);
  if (!lock) return fail(lock.error());
  auto pending = read_number_file(shard_dir + "/" + kSplitPendingFile);
  if (!pending) return fail(pending.error());
  if (!fs::exists(shard_dir + "/" + kSplitPendingFile))
    return fail(shard_dir + ": no split is pending");
  if (auto ok = finish_switch(shard_dir, *pending, 0); !ok) return fail(ok.error());
  SplitReport rep;
  rep.new_base_index = *pending;
  CP_LOG_NOTICE("split {}: finished; base-index now {}", shard_dir, *pending);
  return rep;
}

}  // namespace cp::storage
