// The SMPP uplink (services/smpp/uplink.h) against a fake upstream SMSC made of a test socket:
// exchanges an SMSC starts, checked PDU by PDU (the end-to-end runs against npm smpp's server
// are in tests/daemon).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <memory>
#include <optional>
#include <thread>

#include "services/smpp/uplink.h"
#include "tests/services/smpp/smpp_test_client.h"
#include "tests/services/smsc/smsc_harness.h"

namespace cp::smpp {
namespace {

using test::Pdu;
using test::TestEsme;
namespace pdu = proto::smpp;

// A listening socket on 127.0.0.1 standing in for the upstream SMSC.
class FakeUpstream {
 public:
  FakeUpstream() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 4), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    address_ = SocketAddress::ipv4(INADDR_LOOPBACK, ntohs(a.sin_port));
  }
  ~FakeUpstream() { ::close(fd_); }
  const SocketAddress& address() const { return address_; }
  // The uplink's next connection, bound: its bind_transceiver answered ESME_ROK.
  std::unique_ptr<TestEsme> accept_bound(int timeout_ms = 10000) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return nullptr;
    auto link =
        std::make_unique<TestEsme>(TestEsme::Adopt{::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC)});
    auto bind = link->read_command(pdu::cmd::bind_transceiver);
    EXPECT_TRUE(bind);
    if (!bind) return nullptr;
    link->send(pdu::encode_message_id_resp(pdu::cmd::bind_transceiver | pdu::cmd::response_bit,
                                           pdu::status::ok, bind->header.sequence, "upstream"));
    return link;
  }

 private:
  int fd_ = -1;
  SocketAddress address_;
};

class UplinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    UplinkOptions o;
    o.server = upstream_.address();
    o.system_id = "us";
    o.password = "pw";
    o.core_socket = (dir_.path() / "smsc.sock").string();
    o.reconnect_min = 50 * kNanosPerMilli;
    o.reconnect_max = 200 * kNanosPerMilli;
    uplink_ = std::make_unique<SmppUplink>(o);
    harness_ = std::make_unique<smsc::test::SmscHarness>(
        dir_.path(), 1, smsc::test::test_options(dir_.path()), [this](engine::Reactor& r) {
          auto ok = uplink_->start(r);
          EXPECT_TRUE(ok) << (ok ? "" : ok.error());
        });
  }
  void TearDown() override {
    if (harness_) harness_->stop();
  }

  cp::test::TempDir dir_;
  FakeUpstream upstream_;
  std::unique_ptr<SmppUplink> uplink_;
  std::unique_ptr<smsc::test::SmscHarness> harness_;
};

// alert_notification has no response in SMPP 3.4 (4.12): the uplink takes it and answers
// nothing (it used to send a made-up alert_notification_resp); an outbind on a bound session
// gets a generic_nack (issue 15). The session goes on: enquire_link is answered after both.
TEST_F(UplinkTest, AlertNotificationIsNotAnsweredAndOutbindIsRefused) {
  auto link = upstream_.accept_bound();
  ASSERT_TRUE(link);
  std::vector<std::byte> alert = pdu::encode_header_only(pdu::cmd::alert_notification, 0, 41);
  // Its body: source 1/1 "12125550100", esme 1/1 "12126660001" (C-octet strings).
  auto put = [&](std::string_view s) {
    for (char c : s) alert.push_back(static_cast<std::byte>(c));
    alert.push_back(std::byte{0});
  };
  alert.push_back(std::byte{1});
  alert.push_back(std::byte{1});
  put("12125550100");
  alert.push_back(std::byte{1});
  alert.push_back(std::byte{1});
  put("12126660001");
  alert[3] = static_cast<std::byte>(alert.size());
  link->send(alert);
  auto answer = link->read(500);
  EXPECT_FALSE(answer) << "alert_notification answered with command "
                       << (answer ? answer->header.command_id : 0);
  link->send(pdu::encode_header_only(pdu::cmd::outbind, 0, 42));
  auto nack = link->read_command(pdu::cmd::generic_nack, 2000);
  ASSERT_TRUE(nack);
  EXPECT_EQ(nack->header.sequence, 42u);
  link->send(pdu::encode_header_only(pdu::cmd::enquire_link, 0, 43));
  auto pong = link->read_command(pdu::cmd::enquire_link | pdu::cmd::response_bit, 2000);
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->header.sequence, 43u);
}

// Two equal deliver_sm from the upstream without user_message_reference are two messages, both
// stored: only a given reference makes a retry (issue 15; the server side is tested in
// server_test.cc). With the sequence number standing in, an upstream restarting its numbering
// would have had the second text answered ESME_ROK and dropped.
TEST_F(UplinkTest, EqualDeliveriesWithoutAReferenceAreBothStored) {
  auto link = upstream_.accept_bound();
  ASSERT_TRUE(link);
  const std::vector<std::byte> text = test::text_bytes("same words");
  pdu::ShortMessage m;
  m.source_addr_ton = 1;
  m.source_addr_npi = 1;
  m.source_addr = "14155550199";
  m.dest_addr_ton = 1;
  m.dest_addr_npi = 1;
  m.destination_addr = "12125550101";  // a GSM subscriber: active, duplicate-checked
  m.short_message = text;
  const uint64_t records_before = harness_->records();
  // The same sequence number twice: what an upstream that restarts its numbering (each bind)
  // sends for the same text later.
  for (uint32_t seq : {7u, 7u}) {
    // The role link may still be coming up: a temporary refusal is retried, as an SMSC would.
    std::optional<Pdu> r;
    for (int i = 0; i < 100; ++i) {
      link->send(pdu::encode_short_message(pdu::cmd::deliver_sm, seq, m));
      r = link->read_command(pdu::cmd::deliver_sm | pdu::cmd::response_bit);
      ASSERT_TRUE(r);
      if (r->header.command_status == pdu::status::ok) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_EQ(r->header.command_status, pdu::status::ok) << seq;
  }
  for (int i = 0; i < 200 && harness_->records() < records_before + 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(harness_->records(), records_before + 2);
  EXPECT_EQ(harness_->smsc().stats().duplicates.load(), 0u);
}

}  // namespace
}  // namespace cp::smpp
