#include "services/smpp/session.h"

#include "base/assert.h"
#include "services/smpp/convert.h"

namespace cp::smpp {

namespace pdu = proto::smpp;
namespace wire = smsc::wire;

bool is_temporary_failure(const pdu::Header& h) {
  // ESME_RX_T_APPN is the receiver's own "temporary, try again" (SMPP 3.4, 5.1.3).
  return h.command_status == pdu::status::throttled || h.command_status == pdu::status::msgqful ||
         h.command_status == pdu::status::syserr || h.command_status == pdu::status::rx_t_appn ||
         h.command_id == pdu::cmd::generic_nack;
}

// ---- SendQueue --------------------------------------------------------------------------------

void SendQueue::send(engine::Connection* conn, std::span<const std::byte> bytes) {
  if (!conn) return;
  if (empty() && conn->send(bytes)) return;
  // Reuse the room already sent from before growing.
  if (head_ > 0 && head_ >= pending_.size() / 2) {
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<long>(head_));
    head_ = 0;
  }
  pending_.insert(pending_.end(), bytes.begin(), bytes.end());
  conn->wait_writable();
}

void SendQueue::flush(engine::Connection& conn) {
  if (empty()) return;
  const size_t n = std::min(backlog(), conn.send_room());
  if (n == 0 || !conn.send({pending_.data() + head_, n})) {
    conn.wait_writable();
    return;
  }
  head_ += n;
  if (empty()) {
    clear();
  } else {
    conn.wait_writable();
  }
}

// ---- SegmentedSubmits -------------------------------------------------------------------------

SegmentedSubmits::SegmentedSubmits(uint32_t capacity) : entries_(capacity) {
  CP_ASSERT(capacity < smsc::wire::kSubmitGroupMax);  // index + 1 names a message's parts
  free_.reserve(capacity);
  for (uint32_t i = capacity; i-- > 0;) free_.push_back(i);
}

uint32_t SegmentedSubmits::take(uint16_t segments) {
  const uint32_t index = free_.back();
  free_.pop_back();
  Entry& e = entries_[index];
  e.total = segments;
  e.answered = 0;
  e.status = pdu::status::ok;
  e.first_id = 0;
  e.has_first = false;
  e.accepted.clear();
  e.generation = (e.generation + 1) & 0x7FFFFFFFu;  // bit 63 of a cookie stays clear
  e.used = true;
  return index;
}

bool SegmentedSubmits::send(smsc::CoreLink& link, uint32_t index, const wire::Submit& base,
                            std::span<const pdu::SmsSegment> segments) {
  Entry& e = entries_[index];
  std::byte buf[wire::kMessageMax];
  for (size_t i = 0; i < segments.size(); ++i) {
    wire::Submit sub = base;
    fill_segment(sub.record, segments[i]);
    if (segments.size() > 1) {
      // One message of several parts: the core holds them until all are stored (and gives
      // up the message if one is refused), so no part is delivered alone.
      sub.record.part = static_cast<uint8_t>(i + 1);
      sub.record.parts = static_cast<uint8_t>(segments.size());
      sub.group = index + 1;
    }
    // Out of room half way: the rest counts as refused.
    if (!link.send({buf, wire::encode_submit(buf, 0, sub)}, cookie(index)))
      return refused(index, segments.size() - i);
  }
  return e.answered == e.total;
}

bool SegmentedSubmits::refused(uint32_t index, size_t unsent) {
  Entry& e = entries_[index];
  e.status = pdu::status::throttled;
  e.answered = static_cast<uint16_t>(e.answered + unsent);
  return e.answered == e.total;
}

std::optional<uint32_t> SegmentedSubmits::answered(const wire::Message& m, uint64_t cookie) {
  const auto index = static_cast<uint32_t>(cookie);
  if (index >= entries_.size()) return std::nullopt;
  Entry& e = entries_[index];
  if (!e.used || e.generation != static_cast<uint32_t>(cookie >> 32)) return std::nullopt;
  ++e.answered;
  const wire::Status st = m.header.status;
  if (st == wire::Status::ok || st == wire::Status::duplicate) {
    if (!e.has_first) {
      e.first_id = m.message_id;
      e.has_first = true;
    }
    // A duplicate's id is an earlier submit's message: never withdrawn for this one.
    if (e.total > 1 && st == wire::Status::ok) e.accepted.push_back(m.message_id);
  } else if (e.status == pdu::status::ok) {
    e.status = smpp_status_of(st);
  }
  if (e.answered < e.total) return std::nullopt;
  return index;
}

void SegmentedSubmits::finish(smsc::CoreLink& link, uint32_t index) {
  Entry& e = entries_[index];
  if (e.status != pdu::status::ok && !e.accepted.empty()) {
    std::byte buf[wire::kMessageMax];
    for (uint64_t id : e.accepted) {
      wire::Target t;
      t.message_id = id;
      link.send({buf, wire::encode_target(buf, wire::Type::cancel, 0, t)}, ~uint64_t{0});
    }
  }
  release(index);
}

void SegmentedSubmits::release(uint32_t index) {
  Entry& e = entries_[index];
  e.used = false;
  e.accepted.clear();
  free_.push_back(index);
}

}  // namespace cp::smpp
