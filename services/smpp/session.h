// The SMPP session layer both ends share: the server's binds (server_*.cc) and the uplink
// (uplink.cc) are each a connection that frames PDUs, keeps a send backlog, numbers its own
// requests, matches their responses, probes a quiet peer with enquire_link, and enters messages
// into the SMSC core one SUBMIT per segment (withdrawing the stored segments of a long message
// when another one fails). What differs between the two — the state machine, what a request
// carries — stays with them.
//
// Reactor thread only; nothing here allocates per PDU once warm (the vectors keep their room).
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "engine/reactor.h"
#include "proto/smpp/coding.h"
#include "proto/smpp/pdu.h"
#include "services/smsc/link.h"
#include "services/smsc/wire.h"

namespace cp::smpp {

// A response status the peer may give again later: retry, do not fail the message.
bool is_temporary_failure(const proto::smpp::Header& response);

// Our sequence numbers: 1 ..= 0x7FFFFFFF, then 1 again (SMPP 3.4, 5.1.4).
class SequenceCounter {
 public:
  explicit SequenceCounter(uint32_t first = 1) : next_(first) {}
  uint32_t next() {
    const uint32_t s = next_;
    next_ = next_ >= 0x7FFFFFFF ? 1 : next_ + 1;
    return s;
  }

 private:
  uint32_t next_ = 1;
};

// Bytes for one connection, in order: straight to the connection while it has room, then into
// a backlog that on_writable() drains (from a head offset: draining is linear, not quadratic).
// Partial PDUs are fine: the stream is TCP. The backlog grows only with what the peer asked for
// (responses) or what we chose to send; the owner stops reading while it is above
// kSendBacklogPauseBytes, so a peer that sends and never reads cannot grow it without bound.
constexpr size_t kSendBacklogPauseBytes = 64 * 1024;

class SendQueue {
 public:
  void send(engine::Connection* conn, std::span<const std::byte> bytes);
  // From the connection's on_writable().
  void flush(engine::Connection& conn);
  size_t backlog() const { return pending_.size() - head_; }
  bool empty() const { return backlog() == 0; }
  // Above the bound: stop reading the peer until it drains.
  bool over_bound() const { return backlog() > kSendBacklogPauseBytes; }
  void clear() {
    pending_.clear();
    head_ = 0;
  }

 private:
  std::vector<std::byte> pending_;
  size_t head_ = 0;  // pending_[head_..] is still to go
};

// A PDU longer than the connection's receive block (the engine's rx_buffer_bytes) yet within
// SMPP's 70,000 bytes cannot be held whole. It is answered (see consume_frames) and its bytes
// are discarded as they arrive, so the session goes on.
struct OversizedPdu {
  size_t skip = 0;  // bytes of such a PDU still to discard
};

// Splits the received bytes into PDUs. `take(header, whole_pdu)` is called per complete PDU and
// returns false to stop early (the PDU is then not consumed: a window is full). A bad
// command_length makes the stream untrustworthy (SMPP 3.4, 2.10): `bad(error)` is called and
// every byte counts as consumed. A PDU longer than `frame_max` (what the connection can hold)
// is handed to `too_large(header)` and skipped (`oversized` keeps the count across calls).
// Returns the bytes consumed.
template <typename Take, typename Bad, typename TooLarge>
size_t consume_frames(std::span<const std::byte> data, size_t frame_max, OversizedPdu& oversized,
                      Take&& take, Bad&& bad, TooLarge&& too_large) {
  namespace pdu = proto::smpp;
  size_t used = 0;
  for (;;) {
    if (oversized.skip > 0) {
      const size_t n = std::min(oversized.skip, data.size() - used);
      used += n;
      oversized.skip -= n;
      if (oversized.skip > 0) return used;
    }
    const auto rest = data.subspan(used);
    auto len = pdu::frame_length(rest);
    if (!len) {
      bad(len.error());
      return data.size();
    }
    if (!*len) return used;
    if (**len > frame_max) {
      const auto h = pdu::peek_header(rest);
      if (!h) return used;  // the rest of the header first
      too_large(*h);
      oversized.skip = **len;
      continue;
    }
    if (rest.size() < **len) return used;
    const auto one = rest.first(**len);
    auto h = pdu::decode_header(one);
    if (!h) {  // frame_length already checked the only thing decode_header does
      used += **len;
      continue;
    }
    if (!take(*h, one.subspan(pdu::kHeaderBytes))) return used;
    used += **len;
  }
}

// Our requests on one connection that wait for their responses, with what each carries.
template <typename Payload>
class Outstanding {
 public:
  enum class Kind : uint8_t { request, enquire_link, unbind };
  struct Entry {
    uint32_t sequence = 0;
    uint32_t command = 0;  // the request's command_id
    Kind kind = Kind::request;
    Nanos sent_at = 0;
    Payload payload{};
  };

  void add(uint32_t sequence, uint32_t command, Kind kind, Nanos now, Payload payload = {}) {
    entries_.push_back(Entry{sequence, command, kind, now, std::move(payload)});
  }
  // The request a response answers (removed), or nothing when it answers none of ours: the
  // sequence number and the command must both match (generic_nack answers any command).
  std::optional<Entry> take(const proto::smpp::Header& response) {
    auto it = std::find_if(entries_.begin(), entries_.end(),
                           [&](const Entry& e) { return e.sequence == response.sequence; });
    if (it == entries_.end()) return std::nullopt;
    if (response.command_id != proto::smpp::cmd::generic_nack &&
        response.command_id != (it->command | proto::smpp::cmd::response_bit))
      return std::nullopt;
    Entry e = std::move(*it);
    entries_.erase(it);
    return e;
  }
  uint32_t count(Kind kind) const {
    return static_cast<uint32_t>(std::count_if(entries_.begin(), entries_.end(),
                                               [&](const Entry& e) { return e.kind == kind; }));
  }
  bool oldest_older_than(Nanos now, Nanos timeout) const {
    return std::any_of(entries_.begin(), entries_.end(),
                       [&](const Entry& e) { return now - e.sent_at > timeout; });
  }
  bool probing() const {
    return std::any_of(entries_.begin(), entries_.end(),
                       [](const Entry& e) { return e.kind != Kind::request; });
  }
  const std::vector<Entry>& entries() const { return entries_; }
  // Everything still waiting (the connection is gone), oldest first.
  std::vector<Entry> take_all() { return std::exchange(entries_, {}); }

 private:
  std::vector<Entry> entries_;
};

// What a connection's periodic check decides (both ends run it every sweep while bound):
// give up on a peer that left a request unanswered too long, or probe one that has been quiet.
enum class KeepaliveAction : uint8_t { none, send_enquire_link, give_up };
template <typename Payload>
KeepaliveAction keepalive(const Outstanding<Payload>& out, Nanos now, Nanos last_rx,
                          Nanos response_timeout, Nanos enquire_interval) {
  if (out.oldest_older_than(now, response_timeout)) return KeepaliveAction::give_up;
  if (!out.probing() && now - last_rx > enquire_interval) return KeepaliveAction::send_enquire_link;
  return KeepaliveAction::none;
}

// Messages being entered into the SMSC core, one SUBMIT per segment, each answered once every
// segment has been. A fixed pool: its indices and generations make the core's cookies, so a
// late answer for a recycled entry is recognised and dropped. What the caller needs to answer
// its peer (a session and its sequence number, say) it keeps in its own table by index.
class SegmentedSubmits {
 public:
  struct Entry {
    uint16_t total = 0;
    uint16_t answered = 0;
    uint32_t status = proto::smpp::status::ok;  // the first refusal's SMPP status
    uint64_t first_id = 0;                      // the core's id of the first accepted segment
    bool has_first = false;          // first_id is set (0 is a valid id: shard 0's first record)
    std::vector<uint64_t> accepted;  // multi-segment only: to withdraw on failure
    uint32_t generation = 0;
    bool used = false;
  };

  explicit SegmentedSubmits(uint32_t capacity);
  uint32_t capacity() const { return static_cast<uint32_t>(entries_.size()); }
  bool full() const { return free_.empty(); }
  size_t in_use() const { return entries_.size() - free_.size(); }

  // Takes an entry for a message of `segments` SUBMITs (the pool must not be full).
  uint32_t take(uint16_t segments);
  const Entry& operator[](uint32_t index) const { return entries_[index]; }

  // Sends the SUBMITs of `base` with each of `segments` filled in, over `link`. Segments that
  // find no room count as refused (ESME_RTHROTTLED). True when every answer is in already
  // (then finish() it).
  bool send(smsc::CoreLink& link, uint32_t index, const smsc::wire::Submit& base,
            std::span<const proto::smpp::SmsSegment> segments);

  // A core answer for `cookie`: the entry's index once every segment is answered (then
  // finish() it), else nothing — also for an answer that belongs to no live entry.
  std::optional<uint32_t> answered(const smsc::wire::Message& m, uint64_t cookie);

  // Withdraws the stored segments of a long message that failed as a whole (the peer retries
  // all of it) and frees the entry.
  void finish(smsc::CoreLink& link, uint32_t index);
  // Frees the entry without withdrawing anything.
  void release(uint32_t index);

  // For a caller that sends its own SUBMIT (a status report): the cookie to send it with, and
  // `unsent` segments that found no room (they count as refused with ESME_RTHROTTLED). True
  // when every answer is in.
  uint64_t cookie(uint32_t index) const {
    return (uint64_t{entries_[index].generation} << 32) | index;
  }
  bool refused(uint32_t index, size_t unsent);

 private:
  std::vector<Entry> entries_;
  std::vector<uint32_t> free_;
};

}  // namespace cp::smpp
