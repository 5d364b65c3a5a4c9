// Multi-part messages in the SMSC core (docs/SMSC.md "Multi-part messages"), on real sockets
// and a real store: no part is delivered before every part is durable; a message whose parts
// stop coming, come out of order, or of which a part is withdrawn is cancelled whole; a restart
// cancels a message whose last part never reached the store; a whole message gets one status
// report, with part 1's id (issue 15: orphan parts were delivered when a link dropped half way,
// and a long submit_sm got a receipt per part, for ids its submitter never saw).
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "services/smsc/core.h"
#include "tests/services/smsc/smsc_harness.h"

namespace cp::smsc {
namespace {

using cp::test::TempDir;
using namespace test;  // NOLINT(google-build-using-namespace): the harness's helpers
using wire::Role;
using wire::Status;
using wire::Type;

class SmscMultipartTest : public ::testing::TestWithParam<unsigned> {};
INSTANTIATE_TEST_SUITE_P(Cores, SmscMultipartTest, ::testing::Values(1u, 2u), cores_name);

// Part k of n of the message `group`, to the upstream.
wire::Submit part(uint8_t k, uint8_t n, uint32_t group, std::string_view dst = "4155550199",
                  std::string_view src = "2125550100") {
  auto s = make_submit(src, dst, "part " + std::to_string(k) + "/" + std::to_string(n), k);
  s.record.part = k;
  s.record.parts = n;
  s.group = group;
  return s;
}

std::string text_of(const wire::Message& m) {
  return {reinterpret_cast<const char*>(m.submit.record.user_data), m.submit.record.ud_length};
}

void answer_ok(SmscClient& rh, const wire::Message& m, Status st = Status::ok) {
  std::byte buf[wire::kMessageMax];
  ASSERT_TRUE(rh.send({buf, wire::encode_response(buf, m.header.type, m.header.request_id, st)}));
}

// Takes the n parts of one message, in order, and answers each ok; checks each knows part 1.
void expect_parts(SmscClient& rh, int n, uint64_t first_id) {
  for (int k = 1; k <= n; ++k) {
    auto m = rh.receive(10000);
    ASSERT_TRUE(m) << "part " << k;
    EXPECT_EQ(text_of(*m), "part " + std::to_string(k) + "/" + std::to_string(n));
    EXPECT_EQ(m->submit.record.part, k);
    EXPECT_EQ(m->submit.record.parts, n);
    // Every part knows part 1, whose id its submitter was given.
    EXPECT_EQ(storage::first_part_index(m->submit.record,
                                        storage::message_index(m->submit.record.message_id)),
              storage::message_index(first_id));
    answer_ok(rh, *m);
  }
}

TEST_P(SmscMultipartTest, NoPartIsDeliveredBeforeEveryPartIsStored) {
  TempDir tmp;
  SmscHarness h(tmp.str(), GetParam(), test_options(tmp.str()));
  ASSERT_TRUE(h.started());
  SmscClient rh = h.client();
  ASSERT_EQ(register_role(rh, Role::peer, "", true, 10), Status::ok);
  SmscClient c = h.client();
  const auto first = submit(c, part(1, 3, 7), 1);
  ASSERT_EQ(first.header.status, Status::ok);
  ASSERT_EQ(submit(c, part(2, 3, 7), 2).header.status, Status::ok);
  EXPECT_FALSE(rh.receive(400)) << "a part delivered while part 3 was still to come";
  ASSERT_EQ(submit(c, part(3, 3, 7), 3).header.status, Status::ok);
  expect_parts(rh, 3, first.message_id);
  EXPECT_TRUE(eventually([&] { return h.smsc().stats().delivered.load() == 3; }));
}

TEST_P(SmscMultipartTest, AMessageWhosePartsStopComingIsCancelledWhole) {
  TempDir tmp;
  SmscOptions o = test_options(tmp.str());
  o.part_timeout = 300 * kNanosPerMilli;
  SmscHarness h(tmp.str(), GetParam(), o);
  ASSERT_TRUE(h.started());
  SmscClient rh = h.client();
  ASSERT_EQ(register_role(rh, Role::peer, "", true, 10), Status::ok);
  {
    // The submitter's link drops after two parts of three.
    SmscClient c = h.client();
    ASSERT_EQ(submit(c, part(1, 3, 9), 1).header.status, Status::ok);
    ASSERT_EQ(submit(c, part(2, 3, 9), 2).header.status, Status::ok);
  }
  ASSERT_TRUE(eventually([&] { return h.smsc().stats().cancelled.load() == 2; }, 5));
  EXPECT_FALSE(rh.receive(200)) << "a part of a message never entered whole was delivered";
  EXPECT_EQ(h.smsc().stats().delivered.load(), 0u);
}

TEST_P(SmscMultipartTest, APartThatDoesNotContinueItsMessageGivesItUp) {
  TempDir tmp;
  SmscHarness h(tmp.str(), GetParam(), test_options(tmp.str()));
  ASSERT_TRUE(h.started());
  SmscClient c = h.client();
  // Part 2 never came (refused on its way, say): part 3 is refused, part 1 withdrawn.
  ASSERT_EQ(submit(c, part(1, 3, 4), 1).header.status, Status::ok);
  EXPECT_EQ(submit(c, part(3, 3, 4), 2).header.status, Status::part_missing);
  ASSERT_TRUE(eventually([&] { return h.smsc().stats().cancelled.load() == 1; }, 5));
  // A part of a message nobody started, a part whose count changed: refused as well.
  EXPECT_EQ(submit(c, part(2, 2, 5), 3).header.status, Status::part_missing);
  ASSERT_EQ(submit(c, part(1, 3, 6), 4).header.status, Status::ok);
  EXPECT_EQ(submit(c, part(2, 4, 6), 5).header.status, Status::part_missing);
  ASSERT_TRUE(eventually([&] { return h.smsc().stats().cancelled.load() == 2; }, 5));
  // Inconsistent part fields are a bad message.
  auto bad = part(3, 2, 8);
  EXPECT_EQ(submit(c, bad, 6).header.status, Status::bad_message);
  bad = part(1, 2, 0);
  EXPECT_EQ(submit(c, bad, 7).header.status, Status::bad_message);
  bad = make_submit("2125550100", "4155550199", "one part");
  bad.group = 3;
  EXPECT_EQ(submit(c, bad, 8).header.status, Status::bad_message);
  // The same group, started again from part 1, goes through whole.
  SmscClient rh = h.client();
  ASSERT_EQ(register_role(rh, Role::peer, "", true, 10), Status::ok);
  const auto again = submit(c, part(1, 2, 4), 9);
  ASSERT_EQ(again.header.status, Status::ok);
  ASSERT_EQ(submit(c, part(2, 2, 4), 10).header.status, Status::ok);
  expect_parts(rh, 2, again.message_id);
  EXPECT_FALSE(rh.receive(200)) << "a withdrawn part was delivered";
}

// Messages begun and never finished are bounded per core: past the limit the next one is
// refused busy (a temporary refusal) until some are done.
TEST_P(SmscMultipartTest, MessagesBeingEnteredAtOnceAreBounded) {
  TempDir tmp;
  SmscOptions o = test_options(tmp.str());
  o.parts_assembling_max = 2;
  SmscHarness h(tmp.str(), 1, o);
  ASSERT_TRUE(h.started());
  SmscClient c = h.client();
  // Each message to a number of its own (otherwise their parts would be duplicates).
  ASSERT_EQ(submit(c, part(1, 2, 1, "4155550101"), 1).header.status, Status::ok);
  ASSERT_EQ(submit(c, part(1, 2, 2, "4155550102"), 2).header.status, Status::ok);
  EXPECT_EQ(submit(c, part(1, 2, 3, "4155550103"), 3).header.status, Status::busy);
  ASSERT_EQ(submit(c, part(2, 2, 1, "4155550101"), 4).header.status, Status::ok);  // one done
  EXPECT_EQ(submit(c, part(1, 2, 3, "4155550103"), 5).header.status, Status::ok);
}

TEST_P(SmscMultipartTest, CancellingAPartOfAMessageNotYetWholeWithdrawsEveryPart) {
  // What the SMPP server does when one part of a submit_sm is refused: it answers the
  // submit_sm with the refusal and cancels the parts already stored.
  TempDir tmp;
  SmscHarness h(tmp.str(), GetParam(), test_options(tmp.str()));
  ASSERT_TRUE(h.started());
  SmscClient rh = h.client();
  ASSERT_EQ(register_role(rh, Role::peer, "", true, 10), Status::ok);
  SmscClient c = h.client();
  const auto p1 = submit(c, part(1, 3, 2), 1);
  ASSERT_EQ(p1.header.status, Status::ok);
  ASSERT_EQ(submit(c, part(2, 3, 2), 2).header.status, Status::ok);
  std::byte buf[wire::kMessageMax];
  wire::Target t;
  t.message_id = p1.message_id;
  EXPECT_EQ(call(c, {buf, wire::encode_target(buf, Type::cancel, 3, t)}, 3).header.status,
            Status::ok);
  ASSERT_TRUE(eventually([&] { return h.smsc().stats().cancelled.load() == 2; }, 5));
  EXPECT_EQ(submit(c, part(3, 3, 2), 4).header.status, Status::part_missing);
  EXPECT_FALSE(rh.receive(300)) << "a part of a withdrawn message was delivered";
}

TEST_P(SmscMultipartTest, ARestartCancelsAMessageWhoseLastPartNeverReachedTheStore) {
  TempDir tmp;
  uint64_t whole_first = 0;
  {
    SmscHarness h(tmp.str(), GetParam(), test_options(tmp.str()));
    ASSERT_TRUE(h.started());
    SmscClient c = h.client();
    // Whole: both parts stored (nobody delivers: no upstream handler).
    const auto w = submit(c, part(1, 2, 1, "4155550188"), 1);
    ASSERT_EQ(w.header.status, Status::ok);
    whole_first = w.message_id;
    ASSERT_EQ(submit(c, part(2, 2, 1, "4155550188"), 2).header.status, Status::ok);
    // Not whole when the core stops: two parts of three.
    ASSERT_EQ(submit(c, part(1, 3, 2), 3).header.status, Status::ok);
    ASSERT_EQ(submit(c, part(2, 3, 2), 4).header.status, Status::ok);
  }
  SmscHarness h(tmp.str(), GetParam(), test_options(tmp.str()));
  ASSERT_TRUE(h.started());
  ASSERT_TRUE(eventually([&] { return h.smsc().stats().cancelled.load() == 2; }, 5));
  SmscClient rh = h.client();
  ASSERT_EQ(register_role(rh, Role::peer, "", true, 10), Status::ok);
  expect_parts(rh, 2, whole_first);
  EXPECT_FALSE(rh.receive(300)) << "a part of the message never stored whole was delivered";
}

// One report per message: parts to the downstream peer `acme`, from an upstream originator,
// so the report comes back to the upstream handler, where its content can be read.
class OneReport {
 public:
  explicit OneReport(SmscHarness& h) : acme(h.client()), up(h.client()), c(h.client()) {}
  SmscClient acme;
  SmscClient up;
  SmscClient c;

  // Submits a 3-part message asking for a report; part 1's id.
  uint64_t submit_message(uint32_t group) {
    uint64_t first = 0;
    for (uint8_t k = 1; k <= 3; ++k) {
      auto s = part(k, 3, group, "2126660100", "4155550199");
      s.record.src_class = static_cast<uint8_t>(storage::SmeClass::upstream);
      s.record.flags = storage::SmRecord::kFlagStatusReport;
      const auto r = submit(c, s, group * 10 + k);
      EXPECT_EQ(r.header.status, Status::ok);
      if (k == 1) first = r.message_id;
    }
    return first;
  }
  // The next report the upstream handler gets.
  std::optional<StatusReport> report(int timeout_ms) {
    auto m = up.receive(timeout_ms);
    if (!m) return std::nullopt;
    EXPECT_TRUE(m->submit.record.flags & storage::SmRecord::kFlagReport);
    StatusReport rep;
    std::memcpy(&rep, m->submit.record.user_data, sizeof rep);
    answer_ok(up, *m);
    return rep;
  }
};

TEST_P(SmscMultipartTest, AWholeMessageGetsOneStatusReportWithPartOnesId) {
  TempDir tmp;
  SmscHarness h(tmp.str(), GetParam(), test_options(tmp.str()));
  ASSERT_TRUE(h.started());
  OneReport t(h);
  ASSERT_EQ(register_role(t.acme, Role::peer, "acme", true, 10), Status::ok);
  ASSERT_EQ(register_role(t.up, Role::peer, "", true, 20), Status::ok);
  // Delivered: one report, when the last part is.
  const uint64_t id = t.submit_message(1);
  for (int k = 1; k <= 3; ++k) {
    auto m = t.acme.receive(10000);
    ASSERT_TRUE(m);
    answer_ok(t.acme, *m);
  }
  auto rep = t.report(10000);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->message_id, id);
  EXPECT_EQ(rep->disposition, static_cast<uint8_t>(storage::Disposition::delivered));
  EXPECT_FALSE(t.report(400)) << "a second report for the same message";
  // A part fails: one report at once, saying so; the other parts' outcomes add none.
  const uint64_t id2 = t.submit_message(2);
  const Status outcome[] = {Status::ok, Status::permanent_failure, Status::ok};
  for (Status st : outcome) {
    auto m = t.acme.receive(10000);
    ASSERT_TRUE(m);
    answer_ok(t.acme, *m, st);
  }
  rep = t.report(10000);
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->message_id, id2);
  EXPECT_EQ(rep->disposition, static_cast<uint8_t>(storage::Disposition::failed_permanently));
  EXPECT_FALSE(t.report(400)) << "a second report for the same message";
  EXPECT_TRUE(eventually([&] { return h.smsc().stats().status_reports.load() == 2; }));
}

}  // namespace
}  // namespace cp::smsc
