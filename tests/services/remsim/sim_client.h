// A well-behaved remsim client on the simulation transport (engine/sim), reactor-based as a
// SIMtrace2-driving client is: it registers with the server, follows its bank configuration,
// reconnects after a pause when a link goes, and runs an APDU script whose every answer must
// equal what a reference card of the same contents answers (reset whenever the bank sends the
// ATR). Used by the simulated scenarios (sim_remsim_test.cc) and the RSPRO session fuzzer.
#pragma once

#include <algorithm>
#include <memory>
#include <optional>
#include <vector>

#include "engine/reactor.h"
#include "engine/sim/sim_network.h"
#include "hw/simcard/card.h"
#include "services/remsim/rspro_conn.h"

namespace cp::remsim::simulated {

namespace rspro = proto::rspro;
using sim::ipv4;

inline constexpr uint32_t kServerIp = ipv4(10, 0, 6, 1);
inline constexpr uint32_t kBankIp = ipv4(10, 0, 6, 2);
inline constexpr uint32_t kClientIp = ipv4(10, 0, 6, 3);
inline constexpr uint16_t kServerPort = 9998;
inline constexpr uint16_t kBankPort = 9999;
inline constexpr ClientSlot kClient{5, 0};

inline engine::ReactorConfig reactor_config() {
  engine::ReactorConfig c;
  c.max_connections = 32;
  c.rx_buffer_bytes = 8192;
  c.tx_buffer_bytes = 16384;
  return c;
}

inline RsproOptions keepalive() {
  RsproOptions o;
  o.ping_interval = kNanosPerSecond;
  o.pong_timeout = 500 * kNanosPerMilli;
  return o;
}

// SELECT MF, SELECT EF.ICCID, READ BINARY, STATUS — again and again.
inline const std::vector<std::vector<std::byte>>& script() {
  static const std::vector<std::vector<std::byte>> s = [] {
    auto b = [](std::initializer_list<int> v) {
      std::vector<std::byte> out;
      for (int x : v) out.push_back(static_cast<std::byte>(x));
      return out;
    };
    return std::vector<std::vector<std::byte>>{b({0x00, 0xA4, 0x00, 0x04, 0x02, 0x3F, 0x00}),
                                               b({0x00, 0xA4, 0x00, 0x0C, 0x02, 0x2F, 0xE2}),
                                               b({0x00, 0xB0, 0x00, 0x00, 0x0A}),
                                               b({0x80, 0xF2, 0x00, 0x0C, 0x00})};
  }();
  return s;
}

// The remsim client: a control link to the server, a data link to the bank it is told about.
class SimClient final : public RsproUser {
 public:
  explicit SimClient(engine::Reactor& r)
      : r_(r), ctrl_(*this, keepalive()), data_(*this, keepalive()) {
    ctrl_timer_.set_callback(
        [](engine::Timer&, void* self) { static_cast<SimClient*>(self)->connect_ctrl(); }, this);
    data_timer_.set_callback(
        [](engine::Timer&, void* self) { static_cast<SimClient*>(self)->connect_data(); }, this);
  }
  void start() { connect_ctrl(); }

  uint64_t answers = 0;     // APDU answers that matched the reference card
  uint64_t mismatches = 0;  // answers that did not
  uint64_t atrs = 0;
  bool has_bank() const { return bank_addr_.has_value(); }
  rspro::BankSlot bank() const { return bank_; }

  void on_rspro_open(RsproConn& c) override {
    rspro::Pdu req;
    req.type = rspro::MsgType::connect_client_req;
    req.identity = {rspro::ComponentType::client, "sim", "sim-client", "1", {}};
    req.client_slot = kClient;
    c.send(req);
  }

  void on_rspro(RsproConn& c, const rspro::Pdu& p) override {
    if (&c == &ctrl_) {
      if (p.type != rspro::MsgType::config_client_bank_req) return;
      rspro::Pdu res;
      res.type = rspro::MsgType::config_client_bank_res;
      c.send(res);
      bank_ = p.bank;
      // The card behind bank slot n is simulated_contents(1, n): the reference follows.
      reference_ = std::make_unique<simcard::Card>(simcard::simulated_contents(1, p.bank.slot));
      if (p.bankd.port == 0) {
        bank_addr_.reset();
        data_.close();
        return;
      }
      const uint32_t ip = uint32_t{p.bankd.ip[0]} << 24 | uint32_t{p.bankd.ip[1]} << 16 |
                          uint32_t{p.bankd.ip[2]} << 8 | p.bankd.ip[3];
      bank_addr_ = SocketAddress::ipv4(ip, p.bankd.port);
      if (!data_.open()) connect_data();
      return;
    }
    switch (p.type) {
      case rspro::MsgType::connect_client_res:
        if (p.result != rspro::ResultCode::ok) data_.close();  // retried after a pause
        return;
      case rspro::MsgType::set_atr_req: {
        rspro::Pdu res;
        res.type = rspro::MsgType::set_atr_res;
        c.send(res);
        ++atrs;
        reference_->reset();
        step_ = 0;
        send_step();
        return;
      }
      case rspro::MsgType::tpdu_card_to_modem: {
        const auto& apdu = script()[step_];
        const auto* a = reinterpret_cast<const uint8_t*>(apdu.data());
        const auto want = reference_->transmit({a, apdu.size()});
        const auto* got = reinterpret_cast<const uint8_t*>(p.data.data());
        if (std::equal(want.begin(), want.end(), got, got + p.data.size())) {
          ++answers;
        } else {
          ++mismatches;
        }
        step_ = (step_ + 1) % script().size();
        send_step();
        return;
      }
      default:
        return;
    }
  }

  void on_rspro_closed(RsproConn& c, engine::CloseReason, int) override {
    if (&c == &ctrl_) {
      r_.arm_timer(ctrl_timer_, 500 * kNanosPerMilli);
    } else {
      r_.arm_timer(data_timer_, 300 * kNanosPerMilli);
    }
  }

 private:
  void connect_ctrl() {
    if (!ctrl_.open()) r_.connect(SocketAddress::ipv4(kServerIp, kServerPort), ctrl_);
  }
  void connect_data() {
    if (bank_addr_ && !data_.open()) r_.connect(*bank_addr_, data_);
  }
  void send_step() {
    rspro::Pdu t;
    t.type = rspro::MsgType::tpdu_modem_to_card;
    t.client = kClient;
    t.bank = bank_;
    t.data = script()[step_];
    data_.send(t);
  }

  engine::Reactor& r_;
  RsproConn ctrl_, data_;
  engine::Timer ctrl_timer_, data_timer_;
  std::optional<SocketAddress> bank_addr_;
  rspro::BankSlot bank_;
  std::unique_ptr<simcard::Card> reference_ =
      std::make_unique<simcard::Card>(simcard::simulated_contents(1, 2));
  size_t step_ = 0;
};

}  // namespace cp::remsim::simulated
