#include "services/smsc/numdb.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "services/smsc/nanp.h"

namespace cp::smsc {
namespace {

constexpr size_t kErrorsMax = 20;
constexpr size_t kPeerNameMax = 32;

// Splits a line into whitespace-separated words, dropping a "#" comment.
std::vector<std::string_view> words_of(std::string_view line) {
  if (const size_t hash = line.find('#'); hash != std::string_view::npos)
    line = line.substr(0, hash);
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r') ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

bool valid_peer_name(std::string_view s) {
  if (s.empty() || s.size() > kPeerNameMax) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// Feeds every line of `text` to fn(line_no, words) and collects its errors.
template <typename Fn>
void for_each_line(std::string_view text, std::string_view name, std::vector<std::string>& errors,
                   Fn&& fn) {
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    const auto words = words_of(line);
    if (words.empty()) continue;
    std::string problem = fn(words);
    if (!problem.empty() && errors.size() < kErrorsMax)
      errors.push_back(fmt::format("{}:{}: {}", name, line_no, problem));
  }
}

Result<std::string, std::string> read_file(const std::string& path) {
  if (path.empty()) return std::string();
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(path + ": cannot read");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string_view to_string(NumberType type) {
  switch (type) {
    case NumberType::gsm:
      return "gsm";
    case NumberType::local:
      return "local";
    case NumberType::nosms:
      return "nosms";
  }
  return "?";
}

Result<std::shared_ptr<const Numdb>, std::string> Numdb::parse(
    std::string_view numbers_text, std::string_view numbers_name, std::string_view peers_text,
    std::string_view peers_name, const std::vector<std::string>& known_peers) {
  auto db = std::make_shared<Numdb>();
  if (known_peers.size() >= 65535) return fail(std::string("too many known peers"));
  db->peer_names_ = known_peers;
  std::vector<std::string> errors;
  // Numbers: NUMBER TYPE [FLAG ...]
  for_each_line(numbers_text, numbers_name, errors,
                [&](const std::vector<std::string_view>& w) -> std::string {
                  if (w.size() < 2) return "expected: NUMBER TYPE [FLAG ...]";
                  NumberEntry e;
                  if (w[1] == "gsm") {
                    e.type = NumberType::gsm;
                  } else if (w[1] == "local") {
                    e.type = NumberType::local;
                  } else if (w[1] == "nosms") {
                    e.type = NumberType::nosms;
                  } else {
                    return fmt::format("unknown type '{}' (gsm, local or nosms)", w[1]);
                  }
                  for (size_t i = 2; i < w.size(); ++i) {
                    if (w[i] != "smsprov") return fmt::format("unknown flag '{}' (smsprov)", w[i]);
                    e.flags |= NumberEntry::kSmsProv;
                  }
                  if (w[0].size() == 4 && all_digits(w[0])) {
                    if (!db->short_.emplace(digits_key(w[0]), e).second)
                      return fmt::format("{} is listed twice", w[0]);
                    return "";
                  }
                  const auto ten = nanp_ten_digits(w[0]);
                  if (!ten)
                    return fmt::format(
                        "'{}' is neither a NANP number (NPANXXXXXX, 1NPANXXXXXX, "
                        "+1NPANXXXXXX) nor a 4-digit local number",
                        w[0]);
                  if (const NanpCheck c = check_nanp(*ten); c != NanpCheck::ok)
                    return fmt::format("{}: {}", w[0], to_string(c));
                  if (!db->nanp_.emplace(digits_key(*ten), e).second)
                    return fmt::format("{} is listed twice", *ten);
                  return "";
                });
  // Peers: BLOCK PEER [upstream], BLOCK = a 10-digit NANP number or a prefix of digits ending
  // in '*'.
  for_each_line(
      peers_text, peers_name, errors, [&](const std::vector<std::string_view>& w) -> std::string {
        if (w.size() != 2 && w.size() != 3) return "expected: NUMBER-OR-PREFIX* PEER [upstream]";
        uint8_t flags = 0;
        if (w.size() == 3) {
          if (w[2] != "upstream")
            return fmt::format("unknown flag '{}' (the only one is 'upstream')", w[2]);
          flags |= PeerBlock::kUpstream;
        }
        if (!valid_peer_name(w[1]))
          return fmt::format("bad peer name '{}' (1..32 of A-Z a-z 0-9 . _ -)", w[1]);
        std::string_view block = w[0];
        std::string ten;
        if (block.size() > 1 && block.back() == '*') {
          block.remove_suffix(1);
          if (!all_digits(block) || block.size() > 9)
            return fmt::format("'{}*': a prefix is 1 to 9 digits", block);
          if (block[0] < '2') return fmt::format("'{}*': no area code starts with 0 or 1", block);
        } else {
          const auto t = nanp_ten_digits(block);
          if (!t) return fmt::format("'{}' is not a NANP number or a prefix ending in *", block);
          if (const NanpCheck c = check_nanp(*t); c != NanpCheck::ok)
            return fmt::format("{}: {}", block, to_string(c));
          ten = *t;
          block = ten;
        }
        uint16_t peer = 0;
        if (const auto known = db->peer_index(w[1])) {
          peer = *known;
        } else {
          if (db->peer_names_.size() >= 65535) return "too many peers";
          peer = static_cast<uint16_t>(db->peer_names_.size());
          db->peer_names_.emplace_back(w[1]);
        }
        const auto [it, inserted] = db->blocks_.emplace(digits_key(block), PeerBlock{peer, flags});
        if (!inserted)
          return fmt::format("{} is already assigned to peer {}", w[0],
                             db->peer_names_[it->second.peer]);
        db->block_lengths_ |= static_cast<uint16_t>(1u << block.size());
        return "";
      });
  if (!errors.empty()) {
    std::string text;
    for (const auto& e : errors) text += (text.empty() ? "" : "\n") + e;
    return fail(text);
  }
  return std::shared_ptr<const Numdb>(std::move(db));
}

Result<std::shared_ptr<const Numdb>, std::string> Numdb::load(
    const std::string& numbers_path, const std::string& peers_path,
    const std::vector<std::string>& known_peers) {
  auto numbers = read_file(numbers_path);
  if (!numbers) return fail(numbers.error());
  auto peers = read_file(peers_path);
  if (!peers) return fail(peers.error());
  return parse(*numbers, numbers_path, *peers, peers_path, known_peers);
}

std::optional<NumberEntry> Numdb::local_nanp(std::string_view ten) const {
  const auto it = nanp_.find(digits_key(ten));
  if (ten.size() != 10 || it == nanp_.end()) return std::nullopt;
  return it->second;
}

std::optional<NumberEntry> Numdb::local_short(std::string_view four) const {
  const auto it = short_.find(digits_key(four));
  if (four.size() != 4 || it == short_.end()) return std::nullopt;
  return it->second;
}

std::optional<PeerBlock> Numdb::peer_block_of(std::string_view ten) const {
  if (ten.size() != 10) return std::nullopt;
  for (size_t len = 10; len >= 1; --len) {
    if (!(block_lengths_ & (1u << len))) continue;
    const auto it = blocks_.find(digits_key(ten.substr(0, len)));
    if (it != blocks_.end()) return it->second;
  }
  return std::nullopt;
}

std::optional<uint16_t> Numdb::peer_of(std::string_view ten) const {
  if (const auto b = peer_block_of(ten)) return b->peer;
  return std::nullopt;
}

std::optional<uint16_t> Numdb::peer_index(std::string_view name) const {
  for (size_t i = 0; i < peer_names_.size(); ++i)
    if (peer_names_[i] == name) return static_cast<uint16_t>(i);
  return std::nullopt;
}

}  // namespace cp::smsc
