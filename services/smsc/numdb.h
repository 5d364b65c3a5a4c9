// The number database (ThemWi-SMSC design sections 1.1 and 2.4; themwi-nanp's role): locally
// owned numbers with their type and flags, and downstream peers' numbers and number blocks.
// Compiled from two text files (docs/SMSC.md, "Number database") into an immutable in-memory
// lookup; a reload builds a new one and swaps it in whole, so readers never see half of one.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/result.h"

namespace cp::smsc {

enum class NumberType : uint8_t {
  gsm,    // a GSM subscriber: MSISDN -> IMSI lookup, then MT delivery
  local,  // writing the message into the store is its final delivery
  nosms,  // cannot receive SMS: messages to it are refused
};
std::string_view to_string(NumberType type);

struct NumberEntry {
  NumberType type = NumberType::gsm;
  uint8_t flags = 0;
  static constexpr uint8_t kSmsProv = 0x01;  // provisioned for outside SMS: may send upstream
};

// A downstream peer's number or number block (a line of the peers file).
struct PeerBlock {
  uint16_t peer = 0;
  uint8_t flags = 0;
  // The peer may send from these numbers to the Outside World (the upstream): the seed's 1.2
  // lets a downstream peer's messages go there, its 2.4.2 only provisioned senders; off unless
  // the peers file says `upstream`.
  static constexpr uint8_t kUpstream = 0x01;
};

class Numdb {
 public:
  // Parses the locally owned numbers file and the peers file. Every bad line is reported as
  // "file:line: problem" (up to 20, one per line of the error text); nothing is built then.
  // `known_peers`: peer names in index order from before (the store's peer-index file, or the
  // database being replaced). They keep their indices — records and queues hold indices — even
  // when the peers file lists them in another order or not at all; new names get the next ones.
  static Result<std::shared_ptr<const Numdb>, std::string> parse(
      std::string_view numbers_text, std::string_view numbers_name, std::string_view peers_text,
      std::string_view peers_name, const std::vector<std::string>& known_peers = {});
  // Reads both files, then parse(). A missing path ("") is an empty file.
  static Result<std::shared_ptr<const Numdb>, std::string> load(
      const std::string& numbers_path, const std::string& peers_path,
      const std::vector<std::string>& known_peers = {});

  // A locally owned NANP number (10 digits) or 4-digit local short number.
  std::optional<NumberEntry> local_nanp(std::string_view ten_digits) const;
  std::optional<NumberEntry> local_short(std::string_view four_digits) const;
  // The downstream peer owning a 10-digit NANP number: the longest matching block wins.
  std::optional<uint16_t> peer_of(std::string_view ten_digits) const;
  // The same, with the matching line's flags.
  std::optional<PeerBlock> peer_block_of(std::string_view ten_digits) const;
  const std::string& peer_name(uint16_t index) const { return peer_names_[index]; }
  std::optional<uint16_t> peer_index(std::string_view name) const;

  size_t nanp_count() const { return nanp_.size(); }
  size_t short_count() const { return short_.size(); }
  size_t block_count() const { return blocks_.size(); }
  size_t peer_count() const { return peer_names_.size(); }
  // Every peer name by index (including names kept from before that the file no longer has).
  const std::vector<std::string>& peer_names() const { return peer_names_; }

 private:
  std::unordered_map<uint64_t, NumberEntry> nanp_;   // digits_key(10 digits)
  std::unordered_map<uint64_t, NumberEntry> short_;  // digits_key(4 digits)
  std::unordered_map<uint64_t, PeerBlock> blocks_;   // digits_key(prefix) -> peer
  uint16_t block_lengths_ = 0;                       // bit n: some block has n digits
  std::vector<std::string> peer_names_;
};

}  // namespace cp::smsc
