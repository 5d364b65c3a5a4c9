#include "storage/verify.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "base/json_string.h"
#include "base/log.h"
#include "storage/record.h"
#include "storage/shard.h"
#include "storage/shard_io.h"

namespace cp::storage {
namespace {

constexpr size_t kChunkBytes = 4 << 20;
constexpr size_t kProblemsMax = 20;

}  // namespace

Result<VerifyReport, std::string> verify_shard(
    const std::string& dir, const std::function<void(uint64_t, uint64_t)>& progress) {
  VerifyReport rep;
  rep.dir = dir;
  rep.split_pending = std::filesystem::exists(dir + "/split-pending");
  auto base = read_number_file(dir + "/base-index");
  if (!base) return fail(base.error());
  auto mark = read_number_file(dir + "/historical-mb");
  if (!mark) return fail(mark.error());
  rep.base_index = *base;
  rep.historical_mb = *mark;
  const std::string path = dir + "/pms.bin";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(path + ": open: " + std::strerror(errno));
  struct stat st {};
  ::fstat(fd, &st);
  rep.file_bytes = static_cast<uint64_t>(st.st_size);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  auto problem = [&](std::string text) {
    if (rep.problems.size() < kProblemsMax) rep.problems.push_back(std::move(text));
  };
  if (rep.split_pending) problem("an offline split was interrupted: run `pms-tool split --resume`");
  std::vector<std::byte> buf(kChunkBytes);
  bool in_log = true;
  bool shard_known = false;
  uint64_t first_bad = 0;
  uint64_t valid_after_end = 0;
  const uint64_t mark_slots = rep.historical_mb * kRecordsPerMiB;
  for (uint64_t off = 0; off < rep.file_bytes; off += kChunkBytes) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(kChunkBytes, rep.file_bytes - off));
    const ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(off));
    if (n != static_cast<ssize_t>(want)) {
      ::close(fd);
      return fail(path + ": read failed at byte " + std::to_string(off));
    }
    const auto* records = reinterpret_cast<const SmRecord*>(buf.data());
    for (size_t i = 0; i < want / kRecordBytes; ++i) {
      const uint64_t slot = off / kRecordBytes + i;
      const SmRecord& r = records[i];
      const RecordCheck c = check(r);
      if (!in_log) {
        if (c != RecordCheck::blank) ++rep.non_blank_after_end;
        if (c == RecordCheck::valid && valid_after_end++ == 0)
          problem(
              fmt::format("slot {} is valid but follows the end of the log at slot {}: "
                          "damage in the middle of the log (recovery will refuse to start)",
                          slot, first_bad));
        continue;
      }
      if (c != RecordCheck::valid) {
        in_log = false;
        first_bad = slot;
        if (c != RecordCheck::blank) ++rep.non_blank_after_end;
        continue;
      }
      if (!shard_known) {
        rep.shard = message_shard(r.message_id);
        shard_known = true;
      }
      if (r.message_id != make_message_id(rep.shard, rep.base_index + slot))
        problem(fmt::format("slot {} holds message {}:{}, expected {}:{}", slot,
                            message_shard(r.message_id), message_index(r.message_id), rep.shard,
                            rep.base_index + slot));
      if (rep.records > 0 && r.time_entry_ns < rep.last_entry_ns)
        problem(fmt::format("slot {}: entry time goes backwards", slot));
      if (rep.records == 0) rep.first_entry_ns = r.time_entry_ns;
      rep.last_entry_ns = r.time_entry_ns;
      ++rep.records;
      if (r.state == static_cast<uint8_t>(RecordState::active)) {
        ++rep.active;
        if (slot < mark_slots)
          problem(
              fmt::format("record {} is active but lies within historical-mb ({} MiB): "
                          "start-up would skip it",
                          rep.base_index + slot, rep.historical_mb));
      } else {
        ++rep.historical;
      }
    }
    if (progress) progress(off + want, rep.file_bytes);
  }
  ::close(fd);
  if (mark_slots > rep.records)
    problem(fmt::format("historical-mb ({} MiB) reaches beyond the end of the log ({} records)",
                        rep.historical_mb, rep.records));
  return rep;
}

std::string to_text(const VerifyReport& r) {
  std::string out = fmt::format(
      "shard {} ({})\n  records {} ({} active, {} historical), index {}..{}\n"
      "  historical-mb {}, base-index {}, file {} bytes\n  non-blank slots after the end: {}\n",
      r.shard, r.dir, r.records, r.active, r.historical, r.base_index,
      r.records ? r.base_index + r.records - 1 : r.base_index, r.historical_mb, r.base_index,
      r.file_bytes, r.non_blank_after_end);
  if (r.problems.empty()) {
    out += "  OK\n";
  } else {
    for (const auto& p : r.problems) out += "  PROBLEM: " + p + "\n";
  }
  return out;
}

std::string to_json(const VerifyReport& r) {
  std::string dir;
  append_json_string(r.dir, dir);
  std::string problems;
  for (const auto& p : r.problems) {
    if (!problems.empty()) problems += ',';
    append_json_string(p, problems);
  }
  return fmt::format(
      "{{\"dir\":{},\"shard\":{},\"records\":{},\"active\":{},\"historical\":{},"
      "\"base_index\":{},\"historical_mb\":{},\"file_bytes\":{},\"first_entry_ns\":{},"
      "\"last_entry_ns\":{},\"non_blank_after_end\":{},\"split_pending\":{},\"problems\":[{}]}}\n",
      dir, r.shard, r.records, r.active, r.historical, r.base_index, r.historical_mb, r.file_bytes,
      r.first_entry_ns, r.last_entry_ns, r.non_blank_after_end, r.split_pending, problems);
}

}  // namespace cp::storage
