// What serves a bank daemon's slots (issue 6): the cards behind PC/SC readers, or simulated cards
// in the process (the same card logic as cp-simcard, for scale tests and the out-of-the-box
// demo). The bank daemon's workers talk to both the same way:
//
//   submit(request) on a reactor thread either answers at once (the simulated cards) or returns
//   nothing and answers later through the sink on the same reactor (PC/SC: the request travels an
//   SPSC ring to the slot's pinned hardware thread, which makes the blocking call; the reply comes
//   back over another ring — engine/hw_bridge.h).
//
// A reply's code is the RSPRO result a client sees when its card cannot be reached: ok,
// cardNotPresent (no card in the reader), cardUnresponsive (the card does not answer reset),
// cardTransmissionError (anything else failing on the way).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "engine/reactor.h"
#include "proto/rspro/rspro.h"

namespace cp::remsim {

enum class CardOp : uint8_t {
  open,        // connect to the card: reply data = ATR
  transmit,    // one C-APDU: reply data = R-APDU (data + SW1 SW2)
  reset_cold,  // power cycle: reply data = ATR
  reset_warm,  // reset: reply data = ATR
  close,       // release the card (no reply needed; one is sent)
  poll,        // is a card there? (ok or cardNotPresent)
};

inline constexpr size_t kCardBytesMax = 261;  // the largest C-APDU (5 + 256) or R-APDU (258)

struct CardRequest {
  CardOp op = CardOp::poll;
  uint16_t slot = 0;
  uint16_t len = 0;
  uint64_t cookie = 0;  // the caller's, returned in the reply
  std::array<std::byte, kCardBytesMax> data;
  std::span<const std::byte> bytes() const { return {data.data(), len}; }
};

struct CardReply {
  proto::rspro::ResultCode code = proto::rspro::ResultCode::ok;
  CardOp op = CardOp::poll;
  uint16_t slot = 0;
  uint16_t len = 0;
  uint64_t cookie = 0;
  std::array<std::byte, kCardBytesMax> data;
  std::span<const std::byte> bytes() const { return {data.data(), len}; }
};

class CardBackend {
 public:
  using Sink = std::function<void(const CardReply&)>;
  virtual ~CardBackend() = default;
  virtual std::string_view name() const = 0;
  virtual uint16_t slots() const = 0;
  // Whether any reactor may submit (the simulated cards), or only the one passed to start()
  // (PC/SC: its rings have one producer).
  virtual bool any_core() const = 0;
  // Called on the home reactor's thread before any submit.
  virtual Result<void, std::string> start(engine::Reactor& home, Sink sink) = 0;
  // A reactor thread; the slot is owned by the caller (one worker per slot at a time).
  virtual std::optional<CardReply> submit(const CardRequest& request) = 0;
  // Home reactor thread, at shutdown: joins hardware threads.
  virtual void stop() {}
  // One line per slot for operators: reader or card, state.
  virtual std::vector<std::string> describe() const = 0;
};

// In-process simulated cards, one per slot. Card n gets contents generated from the bank id and
// slot (distinct ICCID, IMSI, MSISDN, EID, Ki, OPc; see simulated_contents()), or from
// `contents_dir`/slot-N.txt when that file exists.
struct SimCardOptions {
  uint16_t bank_id = 1;
  uint16_t slots = 4;
  std::string contents_dir;
};
Result<std::unique_ptr<CardBackend>, std::string> make_sim_backend(const SimCardOptions& options);
// Simulated-card removal (tests, `cellctl bankd card`): any thread.
void sim_set_present(CardBackend& backend, uint16_t slot, bool present);

// PC/SC readers (pcsclite), one pinned hardware thread per slot. Slot n uses the first reader
// whose name matches its pattern (ECMAScript regex search, as osmo-remsim's CSV has them).
struct PcscOptions {
  uint16_t bank_id = 1;
  std::vector<std::pair<uint16_t, std::string>> readers;  // slot, reader-name regex
  bool exclusive = true;
  int pin_cpu = -1;  // -1: not pinned
};
Result<std::unique_ptr<CardBackend>, std::string> make_pcsc_backend(const PcscOptions& options);

// osmo-remsim's bankd_pcsc_slots.csv: "bankId","slotNr","reader name regex" per line; lines of
// other banks are skipped. Errors name file:line.
Result<std::vector<std::pair<uint16_t, std::string>>, std::string> parse_reader_csv(
    std::string_view text, std::string_view name, uint16_t bank_id);

}  // namespace cp::remsim
