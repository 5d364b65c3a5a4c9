// The SMPP session layer both ends share (services/smpp/session.h): sequence numbers, framing,
// outstanding requests and the keepalive decision, the segmented-submit pool's bookkeeping.
// Its use on real connections is covered by server_test.cc (server and uplink).
#include "services/smpp/session.h"

#include <gtest/gtest.h>

#include <vector>

#include "services/smpp/convert.h"

namespace cp::smpp {
namespace {

namespace pdu = proto::smpp;
namespace wire = smsc::wire;

std::vector<std::byte> header_pdu(uint32_t command, uint32_t sequence) {
  std::byte buf[pdu::kHeaderBytes];
  auto b = encode_header_into(buf, command, 0, sequence);
  return {b.begin(), b.end()};
}

TEST(SmppSession, SequenceNumbersWrapToOne) {
  SequenceCounter s;
  EXPECT_EQ(s.next(), 1u);
  EXPECT_EQ(s.next(), 2u);
  SequenceCounter last(0x7FFFFFFE);
  EXPECT_EQ(last.next(), 0x7FFFFFFEu);
  EXPECT_EQ(last.next(), 0x7FFFFFFFu);
  EXPECT_EQ(last.next(), 1u);
}

TEST(SmppSession, FramesAreTakenWholeAndInOrder) {
  std::vector<std::byte> stream;
  for (uint32_t seq : {1u, 2u, 3u}) {
    auto p = header_pdu(pdu::cmd::enquire_link, seq);
    stream.insert(stream.end(), p.begin(), p.end());
  }
  // Half of a fourth PDU: not taken, not consumed.
  auto fourth = header_pdu(pdu::cmd::enquire_link, 4);
  stream.insert(stream.end(), fourth.begin(), fourth.begin() + 7);
  std::vector<uint32_t> seen;
  bool bad = false;
  OversizedPdu oversized;
  const auto no_oversize = [](const pdu::Header&) { ADD_FAILURE() << "oversized"; };
  const size_t used = consume_frames(
      stream, 65536, oversized,
      [&](const pdu::Header& h, std::span<const std::byte> body) {
        EXPECT_TRUE(body.empty());
        seen.push_back(h.sequence);
        return true;
      },
      [&](const pdu::Error&) { bad = true; }, no_oversize);
  EXPECT_FALSE(bad);
  EXPECT_EQ(seen, (std::vector<uint32_t>{1, 2, 3}));
  EXPECT_EQ(used, 3 * pdu::kHeaderBytes);
  // A full window: the PDU the taker declines stays unconsumed.
  seen.clear();
  const size_t first_only = consume_frames(
      stream, 65536, oversized,
      [&](const pdu::Header& h, std::span<const std::byte>) {
        seen.push_back(h.sequence);
        return seen.size() < 2;
      },
      [&](const pdu::Error&) { bad = true; }, no_oversize);
  EXPECT_EQ(first_only, pdu::kHeaderBytes);
}

TEST(SmppSession, ABadCommandLengthConsumesEverything) {
  std::vector<std::byte> stream = header_pdu(pdu::cmd::enquire_link, 1);
  const std::byte junk[] = {std::byte{0}, std::byte{0}, std::byte{0}, std::byte{3},  // length 3
                            std::byte{0}, std::byte{0}, std::byte{0}, std::byte{21}};
  stream.insert(stream.end(), std::begin(junk), std::end(junk));
  int taken = 0;
  bool bad = false;
  OversizedPdu oversized;
  EXPECT_EQ(consume_frames(
                stream, 65536, oversized,
                [&](const pdu::Header&, std::span<const std::byte>) {
                  ++taken;
                  return true;
                },
                [&](const pdu::Error&) { bad = true; }, [](const pdu::Header&) {}),
            stream.size());
  EXPECT_EQ(taken, 1);
  EXPECT_TRUE(bad);
}

// A PDU within SMPP's 70,000 bytes but longer than the connection holds is handed over once,
// then skipped as its bytes arrive, in pieces; the PDU after it is taken as usual.
TEST(SmppSession, APduTooLongToHoldIsAnsweredAndSkipped) {
  std::vector<std::byte> big = header_pdu(pdu::cmd::submit_sm, 7);
  big.resize(20'000, std::byte{0x41});
  big[0] = std::byte{0};
  big[1] = std::byte{0};
  big[2] = std::byte{20'000 >> 8};
  big[3] = std::byte{20'000 & 0xff};
  auto after = header_pdu(pdu::cmd::enquire_link, 8);
  big.insert(big.end(), after.begin(), after.end());
  OversizedPdu oversized;
  std::vector<uint32_t> too_large;
  std::vector<uint32_t> taken;
  size_t at = 0;
  for (size_t piece : {10u, 4000u, 9000u, 7006u}) {  // the last piece ends inside `after`
    const auto chunk = std::span(big).subspan(at, piece);
    at += consume_frames(
        chunk, 16384, oversized,
        [&](const pdu::Header& h, std::span<const std::byte>) {
          taken.push_back(h.sequence);
          return true;
        },
        [&](const pdu::Error&) { ADD_FAILURE() << "bad"; },
        [&](const pdu::Header& h) { too_large.push_back(h.sequence); });
  }
  EXPECT_EQ(too_large, std::vector<uint32_t>{7});
  EXPECT_TRUE(taken.empty());
  EXPECT_EQ(at, 20'000u);  // the first 10 bytes waited for the header, then all was skipped
  at += consume_frames(
      std::span(big).subspan(at), 16384, oversized,
      [&](const pdu::Header& h, std::span<const std::byte>) {
        taken.push_back(h.sequence);
        return true;
      },
      [&](const pdu::Error&) { ADD_FAILURE() << "bad"; },
      [&](const pdu::Header& h) { too_large.push_back(h.sequence); });
  EXPECT_EQ(taken, std::vector<uint32_t>{8});
  EXPECT_EQ(at, big.size());
}

TEST(SmppSession, OutstandingRequestsAndKeepalive) {
  Outstanding<int> out;
  using Kind = Outstanding<int>::Kind;
  const Nanos s = kNanosPerSecond;
  out.add(7, pdu::cmd::deliver_sm, Kind::request, 10 * s, 70);
  out.add(8, pdu::cmd::deliver_sm, Kind::request, 11 * s, 80);
  EXPECT_EQ(out.count(Kind::request), 2u);
  auto response = [](uint32_t command, uint32_t sequence) {
    pdu::Header h;
    h.command_id = command;
    h.sequence = sequence;
    return h;
  };
  const uint32_t resp = pdu::cmd::deliver_sm | pdu::cmd::response_bit;
  EXPECT_FALSE(out.take(response(resp, 9)));
  // The right sequence number with another command answers nothing of ours.
  EXPECT_FALSE(out.take(response(pdu::cmd::submit_sm | pdu::cmd::response_bit, 7)));
  auto e = out.take(response(resp, 7));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->payload, 70);
  EXPECT_EQ(out.count(Kind::request), 1u);
  // Quiet for longer than the interval: probe; a probe out: wait; too old: give up.
  EXPECT_EQ(keepalive(out, 12 * s, 12 * s, 30 * s, 30 * s), KeepaliveAction::none);
  EXPECT_EQ(keepalive(out, 43 * s, 12 * s, 60 * s, 30 * s), KeepaliveAction::send_enquire_link);
  out.add(9, pdu::cmd::enquire_link, Kind::enquire_link, 43 * s);
  EXPECT_EQ(keepalive(out, 44 * s, 12 * s, 60 * s, 30 * s), KeepaliveAction::none);
  EXPECT_EQ(keepalive(out, 72 * s, 12 * s, 60 * s, 30 * s), KeepaliveAction::give_up);
  EXPECT_EQ(out.take_all().size(), 2u);
  EXPECT_EQ(out.count(Kind::request), 0u);
}

wire::Message answer(wire::Status st, uint64_t id) {
  wire::Message m;
  m.header.status = st;
  m.message_id = id;
  return m;
}

TEST(SmppSession, SegmentedSubmitsAnswerOnceEverySegmentIsIn) {
  SegmentedSubmits pool(2);
  const uint32_t a = pool.take(3);
  const uint64_t cookie = pool.cookie(a);
  EXPECT_FALSE(pool.answered(answer(wire::Status::ok, 100), cookie));
  EXPECT_FALSE(pool.answered(answer(wire::Status::store_full, 0), cookie));
  auto done = pool.answered(answer(wire::Status::ok, 102), cookie);
  ASSERT_TRUE(done);
  EXPECT_EQ(*done, a);
  EXPECT_EQ(pool[a].first_id, 100u);
  EXPECT_EQ(pool[a].status, smpp_status_of(wire::Status::store_full));
  EXPECT_EQ(pool[a].accepted, (std::vector<uint64_t>{100, 102}));  // to withdraw
  // Segments that found no room count as refused.
  const uint32_t b = pool.take(2);
  EXPECT_TRUE(pool.full());
  EXPECT_FALSE(pool.answered(answer(wire::Status::ok, 200), pool.cookie(b)));
  EXPECT_TRUE(pool.refused(b, 1));
  EXPECT_EQ(pool[b].status, pdu::status::throttled);
}

TEST(SmppSession, ALateAnswerForARecycledEntryIsDropped) {
  SegmentedSubmits pool(1);
  const uint32_t a = pool.take(1);
  const uint64_t old_cookie = pool.cookie(a);
  EXPECT_TRUE(pool.refused(a, 1));
  pool.release(a);
  const uint32_t again = pool.take(1);
  EXPECT_EQ(again, a);  // the same slot, a new generation
  EXPECT_FALSE(pool.answered(answer(wire::Status::ok, 1), old_cookie));
  EXPECT_FALSE(pool.answered(answer(wire::Status::ok, 1), uint64_t{5}));  // no such index
  auto done = pool.answered(answer(wire::Status::ok, 9), pool.cookie(again));
  ASSERT_TRUE(done);
  EXPECT_EQ(pool[again].first_id, 9u);
}

}  // namespace
}  // namespace cp::smpp
