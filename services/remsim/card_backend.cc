#include "services/remsim/card_backend.h"

#include <PCSC/winscard.h>
#include <PCSC/wintypes.h>

#include <charconv>
#include <cstring>
#include <regex>

#include <fmt/format.h>

#include "base/text_lines.h"

#include "base/atomic_file.h"
#include "base/log.h"
#include "engine/hw_bridge.h"
#include "hw/simcard/card.h"

namespace cp::remsim {

using proto::rspro::ResultCode;

namespace {

CardReply reply_to(const CardRequest& r, ResultCode code = ResultCode::ok) {
  CardReply out;
  out.code = code;
  out.op = r.op;
  out.slot = r.slot;
  out.cookie = r.cookie;
  return out;
}

template <typename Bytes>
void set_data(CardReply& out, const Bytes& bytes) {
  out.len = static_cast<uint16_t>(std::min(bytes.size(), out.data.size()));
  std::memcpy(out.data.data(), bytes.data(), out.len);
}

// ---------------------------------------------------------------------------------------------
// Simulated cards.

class SimBackend final : public CardBackend {
 public:
  explicit SimBackend(uint16_t slots) : present_(slots) {
    for (auto& p : present_) p.store(true, std::memory_order_relaxed);
  }
  std::string_view name() const override { return "sim"; }
  uint16_t slots() const override { return static_cast<uint16_t>(cards_.size()); }
  bool any_core() const override { return true; }
  Result<void, std::string> start(engine::Reactor&, Sink) override { return {}; }

  std::optional<CardReply> submit(const CardRequest& r) override {
    if (r.slot >= cards_.size()) return reply_to(r, ResultCode::illegal_slot_id);
    if (!present_[r.slot].load(std::memory_order_acquire))
      return reply_to(r, ResultCode::card_not_present);
    simcard::Card& card = cards_[r.slot];
    CardReply out = reply_to(r);
    switch (r.op) {
      case CardOp::open:
      case CardOp::reset_cold:
      case CardOp::reset_warm:
        set_data(out, card.reset());
        break;
      case CardOp::transmit: {
        const auto* p = reinterpret_cast<const uint8_t*>(r.data.data());
        set_data(out, card.transmit({p, r.len}));
        break;
      }
      case CardOp::close:
      case CardOp::poll:
        break;
    }
    return out;
  }

  std::vector<std::string> describe() const override {
    std::vector<std::string> out;
    for (size_t i = 0; i < cards_.size(); ++i)
      out.push_back(fmt::format("slot {}: simulated card ICCID {} IMSI {}, {}", i,
                                cards_[i].contents().iccid, cards_[i].contents().imsi,
                                present_[i].load() ? "present" : "removed"));
    return out;
  }

  std::vector<simcard::Card> cards_;
  std::vector<std::atomic<bool>> present_;
};

// ---------------------------------------------------------------------------------------------
// PC/SC: one hardware thread per slot (HwBridge), each with its own PC/SC context.

ResultCode pcsc_code(LONG rv) {
  switch (rv) {
    case static_cast<LONG>(SCARD_E_NO_SMARTCARD):
    case static_cast<LONG>(SCARD_W_REMOVED_CARD):
    case static_cast<LONG>(SCARD_E_UNKNOWN_READER):
    case static_cast<LONG>(SCARD_E_READER_UNAVAILABLE):
    case static_cast<LONG>(SCARD_E_NO_READERS_AVAILABLE):
      return ResultCode::card_not_present;
    case static_cast<LONG>(SCARD_W_UNRESPONSIVE_CARD):
    case static_cast<LONG>(SCARD_W_UNPOWERED_CARD):
    case static_cast<LONG>(SCARD_E_TIMEOUT):
      return ResultCode::card_unresponsive;
    default:
      return ResultCode::card_transmission_error;
  }
}

class PcscSlot {
 public:
  PcscSlot(uint16_t slot, std::string pattern, bool exclusive)
      : slot_(slot), pattern_text_(std::move(pattern)), exclusive_(exclusive) {}
  ~PcscSlot() { release(); }

  // Hardware thread.
  CardReply handle(const CardRequest& r) {
    CardReply out = reply_to(r);
    LONG rv = SCARD_S_SUCCESS;
    switch (r.op) {
      case CardOp::open:
        if (card_ == 0) rv = connect();
        if (rv == SCARD_S_SUCCESS) rv = atr(out);
        break;
      case CardOp::reset_cold:
      case CardOp::reset_warm:
        if (card_ == 0) {
          rv = connect();
        } else {
          DWORD proto = 0;
          rv = SCardReconnect(
              card_, exclusive_ ? SCARD_SHARE_EXCLUSIVE : SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0,
              r.op == CardOp::reset_cold ? SCARD_UNPOWER_CARD : SCARD_RESET_CARD, &proto);
        }
        if (rv == SCARD_S_SUCCESS) rv = atr(out);
        break;
      case CardOp::transmit: {
        if (card_ == 0) {
          rv = SCARD_E_NO_SMARTCARD;
          break;
        }
        std::array<BYTE, 260> rx;
        DWORD rx_len = rx.size();
        rv = SCardTransmit(card_, SCARD_PCI_T0, reinterpret_cast<const BYTE*>(r.data.data()), r.len,
                           nullptr, rx.data(), &rx_len);
        if (rv == SCARD_S_SUCCESS)
          set_data(out, std::span<const BYTE>(rx.data(), std::min<DWORD>(rx_len, rx.size())));
        break;
      }
      case CardOp::close:
        release();
        break;
      case CardOp::poll:
        rv = poll();
        break;
    }
    if (rv != SCARD_S_SUCCESS) {
      out.code = pcsc_code(rv);
      out.len = 0;
      if (rv != last_error_)
        CP_LOG_WARN("bankd slot {}: {} on reader '{}': {}", slot_, op_name(r.op), reader_,
                    pcsc_stringify_error(rv));
      last_error_ = rv;
      if (out.code != ResultCode::ok && r.op != CardOp::poll) release_card();
    } else {
      last_error_ = SCARD_S_SUCCESS;
    }
    return out;
  }

  std::string describe() const {
    return fmt::format("slot {}: PC/SC reader /{}/ {}", slot_, pattern_text_,
                       reader_.empty() ? std::string("(none found yet)") : "'" + reader_ + "'");
  }

 private:
  static std::string_view op_name(CardOp op) {
    switch (op) {
      case CardOp::open:
        return "connect";
      case CardOp::transmit:
        return "transmit";
      case CardOp::reset_cold:
        return "cold reset";
      case CardOp::reset_warm:
        return "warm reset";
      case CardOp::close:
        return "disconnect";
      case CardOp::poll:
        return "status";
    }
    return "?";
  }

  LONG context() {
    if (ctx_valid_) return SCARD_S_SUCCESS;
    const LONG rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &ctx_);
    ctx_valid_ = rv == SCARD_S_SUCCESS;
    return rv;
  }

  // Finds the reader whose name matches the pattern.
  LONG find_reader() {
    if (LONG rv = context(); rv != SCARD_S_SUCCESS) return rv;
    DWORD len = 0;
    LONG rv = SCardListReaders(ctx_, nullptr, nullptr, &len);
    if (rv != SCARD_S_SUCCESS) return rv;
    std::string names(len, '\0');
    rv = SCardListReaders(ctx_, nullptr, names.data(), &len);
    if (rv != SCARD_S_SUCCESS) return rv;
    if (!pattern_) pattern_.emplace(pattern_text_, std::regex::ECMAScript);
    for (size_t at = 0; at < names.size() && names[at] != '\0';) {
      const std::string name(names.c_str() + at);
      at += name.size() + 1;
      if (std::regex_search(name, *pattern_)) {
        if (name != reader_) CP_LOG_INFO("bankd slot {}: reader '{}'", slot_, name);
        reader_ = name;
        return SCARD_S_SUCCESS;
      }
    }
    return SCARD_E_UNKNOWN_READER;
  }

  LONG connect() {
    if (LONG rv = find_reader(); rv != SCARD_S_SUCCESS) return rv;
    DWORD proto = 0;
    LONG rv =
        SCardConnect(ctx_, reader_.c_str(), exclusive_ ? SCARD_SHARE_EXCLUSIVE : SCARD_SHARE_SHARED,
                     SCARD_PROTOCOL_T0, &card_, &proto);
    if (rv != SCARD_S_SUCCESS) card_ = 0;
    return rv;
  }

  LONG atr(CardReply& out) {
    std::array<BYTE, MAX_ATR_SIZE> buf;
    DWORD atr_len = buf.size(), state = 0, proto = 0;
    std::array<char, 256> name;
    DWORD name_len = name.size();
    const LONG rv =
        SCardStatus(card_, name.data(), &name_len, &state, &proto, buf.data(), &atr_len);
    if (rv == SCARD_S_SUCCESS) set_data(out, std::span<const BYTE>(buf.data(), atr_len));
    return rv;
  }

  // SCardGetStatusChange without waiting: is a card in the reader?
  LONG poll() {
    if (reader_.empty())
      if (LONG rv = find_reader(); rv != SCARD_S_SUCCESS) return rv;
    SCARD_READERSTATE st{};
    st.szReader = reader_.c_str();
    st.dwCurrentState = SCARD_STATE_UNAWARE;
    const LONG rv = SCardGetStatusChange(ctx_, 0, &st, 1);
    if (rv != SCARD_S_SUCCESS) return rv;
    if (st.dwEventState & (SCARD_STATE_UNKNOWN | SCARD_STATE_UNAVAILABLE))
      return SCARD_E_READER_UNAVAILABLE;
    return (st.dwEventState & SCARD_STATE_PRESENT) ? SCARD_S_SUCCESS : SCARD_E_NO_SMARTCARD;
  }

  void release_card() {
    if (card_ != 0) SCardDisconnect(card_, SCARD_UNPOWER_CARD);
    card_ = 0;
  }
  void release() {
    release_card();
    if (ctx_valid_) SCardReleaseContext(ctx_);
    ctx_valid_ = false;
  }

  uint16_t slot_;
  std::string pattern_text_;
  std::optional<std::regex> pattern_;
  bool exclusive_;
  SCARDCONTEXT ctx_ = 0;
  bool ctx_valid_ = false;
  SCARDHANDLE card_ = 0;
  std::string reader_;
  LONG last_error_ = SCARD_S_SUCCESS;
};

class PcscBackend final : public CardBackend {
 public:
  using Bridge = engine::HwBridge<CardRequest, CardReply, PcscSlot>;
  explicit PcscBackend(PcscOptions o) : opt_(std::move(o)) {
    uint16_t n = 0;
    for (const auto& [slot, re] : opt_.readers) n = std::max<uint16_t>(n, slot + 1);
    devices_.resize(n);
    for (const auto& [slot, re] : opt_.readers)
      devices_[slot] = std::make_unique<PcscSlot>(slot, re, opt_.exclusive);
  }
  ~PcscBackend() override { stop(); }
  std::string_view name() const override { return "pcsc"; }
  uint16_t slots() const override { return static_cast<uint16_t>(devices_.size()); }
  bool any_core() const override { return false; }

  Result<void, std::string> start(engine::Reactor& home, Sink sink) override {
    bridges_.resize(devices_.size());
    for (size_t i = 0; i < devices_.size(); ++i) {
      if (!devices_[i]) continue;
      bridges_[i] = std::make_unique<Bridge>(home, *devices_[i], sink, fmt::format("pcsc{}", i),
                                             opt_.pin_cpu, 16);
    }
    return {};
  }

  std::optional<CardReply> submit(const CardRequest& r) override {
    if (r.slot >= bridges_.size() || !bridges_[r.slot])
      return reply_to(r, ResultCode::card_not_present);
    if (!bridges_[r.slot]->submit(r)) return reply_to(r, ResultCode::card_transmission_error);
    return std::nullopt;
  }

  void stop() override { bridges_.clear(); }

  std::vector<std::string> describe() const override {
    std::vector<std::string> out;
    for (size_t i = 0; i < devices_.size(); ++i)
      out.push_back(devices_[i] ? devices_[i]->describe() : fmt::format("slot {}: no reader", i));
    return out;
  }

 private:
  PcscOptions opt_;
  std::vector<std::unique_ptr<PcscSlot>> devices_;
  std::vector<std::unique_ptr<Bridge>> bridges_;
};

}  // namespace

Result<std::unique_ptr<CardBackend>, std::string> make_sim_backend(const SimCardOptions& o) {
  auto b = std::make_unique<SimBackend>(o.slots);
  b->cards_.reserve(o.slots);
  for (uint16_t slot = 0; slot < o.slots; ++slot) {
    simcard::Contents contents = simcard::simulated_contents(o.bank_id, slot);
    if (!o.contents_dir.empty()) {
      const std::string path = fmt::format("{}/slot-{}.txt", o.contents_dir, slot);
      auto text = read_small_file(path);
      if (!text) return fail(text.error());
      if (*text) {
        auto c = simcard::parse_contents(**text, path);
        if (!c) return fail(c.error());
        contents = std::move(*c);
      }
    }
    b->cards_.emplace_back(std::move(contents));
  }
  return std::unique_ptr<CardBackend>(std::move(b));
}

void sim_set_present(CardBackend& backend, uint16_t slot, bool present) {
  auto* sim = dynamic_cast<SimBackend*>(&backend);
  if (sim && slot < sim->present_.size())
    sim->present_[slot].store(present, std::memory_order_release);
}

Result<std::unique_ptr<CardBackend>, std::string> make_pcsc_backend(const PcscOptions& o) {
  if (o.readers.empty()) return fail(std::string("no reader patterns for this bank"));
  for (const auto& [slot, re] : o.readers) {
    try {
      std::regex check(re, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return fail(fmt::format("slot {}: reader pattern /{}/: {}", slot, re, e.what()));
    }
  }
  return std::unique_ptr<CardBackend>(std::make_unique<PcscBackend>(o));
}

Result<std::vector<std::pair<uint16_t, std::string>>, std::string> parse_reader_csv(
    std::string_view text, std::string_view name, uint16_t bank_id) {
  std::vector<std::pair<uint16_t, std::string>> out;
  std::vector<std::string> problems;
  for_each_line(text, [&](std::string_view line, size_t line_no) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty() || line.front() == '#') return;
    // Three fields, each optionally double-quoted ("" inside quotes is one quote).
    std::vector<std::string> fields;
    size_t i = 0;
    bool bad = false;
    while (i <= line.size() && !bad) {
      std::string f;
      if (i < line.size() && line[i] == '"') {
        ++i;
        for (;;) {
          if (i >= line.size()) {
            bad = true;
            break;
          }
          if (line[i] == '"') {
            if (i + 1 < line.size() && line[i + 1] == '"') {
              f += '"';
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          f += line[i++];
        }
        if (i < line.size() && line[i] != ',') bad = true;
      } else {
        const size_t comma = line.find(',', i);
        f = std::string(
            line.substr(i, comma == std::string_view::npos ? std::string_view::npos : comma - i));
        i = comma == std::string_view::npos ? line.size() : comma;
      }
      fields.push_back(std::move(f));
      if (i >= line.size()) break;
      ++i;  // the comma
    }
    auto problem = [&](std::string what) {
      problems.push_back(fmt::format("{}:{}: {}", name, line_no, what));
    };
    if (bad || fields.size() != 3) {
      problem("expected \"bankId\",\"slotNr\",\"reader name regex\"");
      return;
    }
    uint32_t bank = 0, slot = 0;
    auto num = [](const std::string& s, uint32_t& v) {
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      return ec == std::errc() && p == s.data() + s.size() && v <= 1023;
    };
    if (!num(fields[0], bank) || !num(fields[1], slot)) {
      problem("bankId and slotNr must be numbers in 0..1023");
      return;
    }
    if (fields[2].empty()) {
      problem("an empty reader pattern");
      return;
    }
    try {
      std::regex check(fields[2], std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      problem(fmt::format("reader pattern /{}/: {}", fields[2], e.what()));
      return;
    }
    if (bank != bank_id) return;
    bool dup = false;
    for (const auto& [s, re] : out) dup |= s == slot;
    if (dup) {
      problem(fmt::format("slot {} is listed twice", slot));
      return;
    }
    out.emplace_back(static_cast<uint16_t>(slot), fields[2]);
  });
  if (!problems.empty()) {
    std::string all;
    for (const auto& p : problems) all += p + "\n";
    all.pop_back();
    return fail(std::move(all));
  }
  return out;
}

}  // namespace cp::remsim
