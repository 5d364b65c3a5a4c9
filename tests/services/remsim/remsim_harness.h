// Test support for the remote-SIM services: a remsim server and a bank daemon each on an engine
// of their own (so either can be stopped and started again on the same port), a REST client, and
// a blocking remsim client (RsproLink) that registers, follows its bank configuration, and
// exchanges APDUs — the same steps as cp-remsim-shell, under the test's control.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "hw/simcard/card.h"
#include "hw/simcard/milenage.h"
#include "proto/ipa/ipa.h"
#include "services/remsim/bankd.h"
#include "services/remsim/rspro_link.h"
#include "services/remsim/server.h"
#include "tests/http/http_test_support.h"
#include "tests/support/process.h"
#include "tests/support/reactor_harness.h"
#include "tests/support/temp_dir.h"

namespace cp::remsim::test {

namespace rspro = proto::rspro;
using cp::test::eventually;

using cp::test::free_port;

inline SocketAddress loopback(uint16_t port) {
  return *SocketAddress::parse("127.0.0.1:" + std::to_string(port));
}

// One engine running `setup` on each core; stopped and joined on destruction.
class EngineRun {
 public:
  // `ring_capacity`: the cross-core rings' (0: the default).
  EngineRun(unsigned cores, std::function<Result<void, std::string>(engine::Reactor&)> setup,
            uint32_t ring_capacity = 0) {
    engine::EngineConfig ec;
    ec.cores = cores;
    if (ring_capacity != 0) ec.cross_core_ring_capacity = ring_capacity;
    ec.pin_threads = false;
    ec.drain_timeout = 200 * kNanosPerMilli;
    engine_ = std::make_unique<engine::Engine>(ec);
    engine_->on_each_core(std::move(setup));
    auto ok = engine_->start();
    EXPECT_TRUE(ok) << (ok ? "" : ok.error());
    started_ = static_cast<bool>(ok);
  }
  ~EngineRun() {
    if (started_) {
      engine_->request_stop();
      engine_->join();
    }
  }
  bool started() const { return started_; }
  engine::Engine& engine() { return *engine_; }

 private:
  std::unique_ptr<engine::Engine> engine_;
  bool started_ = false;
};

// The remsim server on a one-core engine.
struct ServerRun {
  std::unique_ptr<RemsimServer> server;
  std::unique_ptr<EngineRun> run;
  SocketAddress rspro, rest;

  explicit ServerRun(ServerOptions o) {
    auto s = RemsimServer::create(std::move(o));
    EXPECT_TRUE(s) << (s ? "" : s.error());
    if (!s) return;
    server = std::move(*s);
    run = std::make_unique<EngineRun>(
        1, [this](engine::Reactor& r) -> Result<void, std::string> { return server->start(r); });
    rspro = server->bound_address();
    if (server->rest_address()) rest = *server->rest_address();
  }
  ~ServerRun() { run.reset(); }
};

// The bank daemon with simulated cards.
struct BankdRun {
  std::unique_ptr<Bankd> bankd;
  std::unique_ptr<EngineRun> run;
  CardBackend* cards = nullptr;

  // `extra`: more set-up on each core after the bank daemon's; `ring_capacity`: EngineRun's.
  BankdRun(BankdOptions o, unsigned cores, uint16_t slots = 4,
           std::function<void(engine::Reactor&)> extra = {}, uint32_t ring_capacity = 0) {
    SimCardOptions so;
    so.bank_id = o.bank_id;
    so.slots = slots;
    auto backend = make_sim_backend(so);
    EXPECT_TRUE(backend);
    cards = backend->get();
    bankd = std::make_unique<Bankd>(std::move(o), std::move(*backend), cores);
    run = std::make_unique<EngineRun>(
        cores,
        [this, extra](engine::Reactor& r) -> Result<void, std::string> {
          if (auto ok = bankd->start_on_core(r); !ok) return ok;
          if (extra) extra(r);
          return {};
        },
        ring_capacity);
  }
  ~BankdRun() { run.reset(); }
  bool registered() const { return bankd->stats().server_up.load(); }
};

// One REST request; the reply (status 0 when there was none).
inline cp::test::HttpReply rest(
    const SocketAddress& at, std::string_view method, std::string_view path,
    std::string_view body = "",
    std::string_view extra_headers = "Content-Type: application/json\r\n") {
  cp::test::HttpClient c(at);
  if (!c.connected()) return {};
  std::string req =
      fmt::format("{} /api/backend/v1{} HTTP/1.1\r\nHost: t\r\n{}", method, path, extra_headers);
  if (!body.empty() || method == "POST") req += fmt::format("Content-Length: {}\r\n", body.size());
  req += "\r\n";
  req += body;
  if (!c.send(req)) return {};
  auto r = c.read_reply(method == "HEAD");
  return r ? *r : cp::test::HttpReply{};
}

inline std::string map_body(int bank, int bslot, int client, int cslot) {
  return fmt::format(
      R"({{"bank":{{"bankId":{},"slotNr":{}}},"client":{{"clientId":{},"slotNr":{}}}}})", bank,
      bslot, client, cslot);
}

inline std::vector<std::byte> bytes(std::initializer_list<int> v) {
  std::vector<std::byte> out;
  for (int b : v) out.push_back(static_cast<std::byte>(b));
  return out;
}

inline std::string hex(std::span<const std::byte> b) {
  std::string s;
  for (std::byte x : b) s += fmt::format("{:02x}", static_cast<unsigned>(x));
  return s;
}

inline std::vector<std::byte> unhex(const std::string& h) {
  std::vector<std::byte> out;
  for (size_t i = 0; i + 1 < h.size(); i += 2)
    out.push_back(static_cast<std::byte>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}

// The frames of a real osmo-remsim 1.1.3 session (tests/proto/vectors, RSPRO_VECTORS):
// "from>message" -> the frames' hex, in capture order ("server>configClientBankReq" has two).
inline std::map<std::string, std::vector<std::string>> captured_session(const char* path) {
  std::map<std::string, std::vector<std::string>> out;
  std::ifstream in(path);
  EXPECT_TRUE(in) << path;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    std::string from, arrow, to, name, hex_text;
    ss >> from >> arrow >> to >> name >> hex_text;
    out[from + ">" + name].push_back(hex_text);
  }
  return out;
}

// The wire frame of a received PDU: its DER as received, in its IPA frame.
inline std::string frame_hex(const RsproMessage& m) {
  return hex(proto::ipa::encode_osmo(proto::ipa::kExtRspro, m.bytes));
}

// A remsim client (what a SIMtrace2-driving client or cp-remsim-shell does), blocking.
class TestClient {
 public:
  explicit TestClient(rspro::ClientSlot slot) : slot_(slot) {}

  // ConnectClientReq to the server; its result.
  rspro::ResultCode register_with(const SocketAddress& server) {
    if (auto ok = server_.connect(server); !ok) {
      ADD_FAILURE() << ok.error();
      return rspro::ResultCode::illegal_client_id;
    }
    server_.send(connect_req());
    auto m = expect(server_, rspro::MsgType::connect_client_res);
    return m ? m->pdu.result : rspro::ResultCode::illegal_client_id;
  }

  // The next ConfigClientBankReq from the server (answered): the bank and its address
  // (nullopt address: 0.0.0.0:0, the bank taken away).
  std::optional<std::pair<rspro::BankSlot, std::optional<SocketAddress>>> next_config(
      int timeout_ms = 10000) {
    auto m = expect(server_, rspro::MsgType::config_client_bank_req, timeout_ms);
    if (!m) return std::nullopt;
    rspro::Pdu res;
    res.type = rspro::MsgType::config_client_bank_res;
    server_.send(res);
    bank_ = m->pdu.bank;
    const auto& ip = m->pdu.bankd;
    if (ip.port == 0) return std::pair{m->pdu.bank, std::optional<SocketAddress>{}};
    return std::pair{m->pdu.bank, std::optional(loopback(ip.port))};  // tests run on loopback only
  }

  // ConnectClientReq to the bank daemon: its result, and on ok the ATR of SetAtrReq (answered).
  rspro::ResultCode connect_bank(const SocketAddress& bankd,
                                 std::vector<std::byte>* atr = nullptr) {
    if (auto ok = bank_link_.connect(bankd); !ok) {
      ADD_FAILURE() << ok.error();
      return rspro::ResultCode::card_transmission_error;
    }
    bank_link_.send(connect_req());
    auto m = expect(bank_link_, rspro::MsgType::connect_client_res);
    if (!m) return rspro::ResultCode::card_transmission_error;
    if (m->pdu.result != rspro::ResultCode::ok) return m->pdu.result;
    auto a = expect(bank_link_, rspro::MsgType::set_atr_req);
    if (!a) return rspro::ResultCode::card_unresponsive;
    if (atr) atr->assign(a->pdu.atr.begin(), a->pdu.atr.end());
    rspro::Pdu res;
    res.type = rspro::MsgType::set_atr_res;
    bank_link_.send(res);
    return rspro::ResultCode::ok;
  }

  // Connects to the bank, retrying while it answers anything but ok (as clients do).
  bool connect_bank_retrying(const SocketAddress& bankd, int timeout_ms = 10000,
                             std::vector<std::byte>* atr = nullptr) {
    return eventually([&] { return connect_bank(bankd, atr) == rspro::ResultCode::ok; },
                      timeout_ms);
  }

  // One APDU to the card: its response (empty when the link failed).
  std::vector<std::byte> apdu(std::span<const std::byte> c_apdu) {
    rspro::Pdu p;
    p.type = rspro::MsgType::tpdu_modem_to_card;
    p.client = slot_;
    p.bank = bank_;
    p.data = c_apdu;
    if (!bank_link_.send(p)) return {};
    auto m = expect(bank_link_, rspro::MsgType::tpdu_card_to_modem);
    if (!m) return {};
    return {m->pdu.data.begin(), m->pdu.data.end()};
  }
  std::vector<std::byte> apdu(std::initializer_list<int> c_apdu) { return apdu(bytes(c_apdu)); }

  // Waits for the bank daemon to close our connection (other PDUs are skipped).
  bool bank_closed(int timeout_ms = 5000) {
    for (;;) {
      auto m = bank_link_.receive(timeout_ms);
      if (!m) return true;
      if (!*m) return false;
    }
  }

  RsproLink& server_link() { return server_; }
  RsproLink& bank_link() { return bank_link_; }
  rspro::BankSlot bank() const { return bank_; }
  void set_bank(rspro::BankSlot b) { bank_ = b; }

  // The next PDU of `type` on `link` (others before it are skipped).
  static std::optional<RsproMessage> expect(RsproLink& link, rspro::MsgType type,
                                            int timeout_ms = 10000) {
    for (;;) {
      auto m = link.receive(timeout_ms);
      if (!m || !*m) return std::nullopt;
      if ((*m)->pdu.type == type) return std::move(**m);
    }
  }

 private:
  rspro::Pdu connect_req() const {
    rspro::Pdu p;
    p.type = rspro::MsgType::connect_client_req;
    p.identity = {rspro::ComponentType::client, "test", "remsim-client", "1.1.3", {}};
    p.client_slot = slot_;
    return p;
  }

  rspro::ClientSlot slot_;
  rspro::BankSlot bank_;
  RsproLink server_, bank_link_;
};

// SW1 SW2 of a response.
inline unsigned sw(const std::vector<std::byte>& r) {
  if (r.size() < 2) return 0;
  return static_cast<unsigned>(r[r.size() - 2]) << 8 | static_cast<unsigned>(r.back());
}

// The APDU sequence the end-to-end tests run: SELECT MF (61xx), SELECT + READ BINARY EF.ICCID
// (checked against the card's contents), VERIFY PIN, SELECT ADF.USIM, AUTHENTICATE (RES and CK
// checked against MILENAGE computed here, SQN `sqn_low`, which must be above the card's last).
// `send` carries one APDU to the card.
template <typename Send>
void run_card_session(Send&& send, const simcard::Contents& card, uint8_t sqn_low = 32) {
  auto r = send(bytes({0x00, 0xA4, 0x00, 0x04, 0x02, 0x3F, 0x00}));
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(static_cast<int>(r[0]), 0x61);
  r = send(bytes({0x00, 0xA4, 0x00, 0x0C, 0x02, 0x2F, 0xE2}));
  EXPECT_EQ(sw(r), 0x9000u);
  r = send(bytes({0x00, 0xB0, 0x00, 0x00, 0x0A}));
  ASSERT_EQ(sw(r), 0x9000u);
  std::string iccid;  // swapped BCD
  for (size_t i = 0; i < 10; ++i) {
    const unsigned b = static_cast<unsigned>(r[i]);
    iccid += static_cast<char>('0' + (b & 0x0F));
    if ((b >> 4) != 0x0F) iccid += static_cast<char>('0' + (b >> 4));
  }
  EXPECT_EQ(iccid, card.iccid);
  std::vector<std::byte> verify = bytes({0x00, 0x20, 0x00, 0x01, 0x08});
  for (size_t i = 0; i < 8; ++i)
    verify.push_back(static_cast<std::byte>(i < card.pin1.size() ? card.pin1[i] : 0xFF));
  EXPECT_EQ(sw(send(verify)), 0x9000u);
  r = send(bytes({0x00, 0xA4, 0x04, 0x04, 0x07, 0xA0, 0x00, 0x00, 0x00, 0x87, 0x10, 0x02}));
  EXPECT_EQ(static_cast<int>(r[0]), 0x61);
  simcard::Block rand{};
  for (size_t i = 0; i < rand.size(); ++i) rand[i] = static_cast<uint8_t>(i * 13 + 5);
  const uint8_t sqn[6] = {0, 0, 0, 0, 0, sqn_low};  // above the card's last one
  const uint8_t amf[2] = {0x80, 0x00};
  const auto net = simcard::milenage(card.ki, card.opc, rand, sqn, amf);
  std::vector<std::byte> auth = bytes({0x00, 0x88, 0x00, 0x81, 0x22, 0x10});
  for (uint8_t b : rand) auth.push_back(static_cast<std::byte>(b));
  auth.push_back(std::byte{0x10});
  for (int i = 0; i < 6; ++i) auth.push_back(static_cast<std::byte>(sqn[i] ^ net.ak[i]));
  auth.push_back(std::byte{amf[0]});
  auth.push_back(std::byte{amf[1]});
  for (uint8_t b : net.mac_a) auth.push_back(static_cast<std::byte>(b));
  r = send(auth);
  ASSERT_EQ(r.size(), 2u);
  ASSERT_EQ(static_cast<int>(r[0]), 0x61) << hex(r);
  r = send(bytes({0x00, 0xC0, 0x00, 0x00, static_cast<int>(r[1])}));
  ASSERT_EQ(sw(r), 0x9000u);
  ASSERT_EQ(static_cast<int>(r[0]), 0xDB);
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(static_cast<uint8_t>(r[2 + i]), net.res[i]);
  for (size_t i = 0; i < 16; ++i) EXPECT_EQ(static_cast<uint8_t>(r[11 + i]), net.ck[i]);
}

}  // namespace cp::remsim::test
