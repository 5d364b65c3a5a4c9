#include "services/remsim/slotmap.h"

#include <charconv>

#include <fmt/format.h>

#include "base/text_lines.h"

namespace cp::remsim {

std::string_view to_string(SlotmapState s) {
  switch (s) {
    case SlotmapState::fresh:
      return "NEW";
    case SlotmapState::unacknowledged:
      return "UNACKNOWLEDGED";
    case SlotmapState::active:
      return "ACTIVE";
    case SlotmapState::delete_req:
      return "DELETE_REQ";
    case SlotmapState::deleting:
      return "DELETING";
  }
  return "?";
}

std::string_view to_string(SlotmapError e) {
  switch (e) {
    case SlotmapError::out_of_range:
      return "bank/client id or slot out of 0..1023";
    case SlotmapError::bank_slot_in_use:
      return "the bank slot is already mapped";
    case SlotmapError::client_slot_in_use:
      return "the client slot is already mapped";
    case SlotmapError::not_found:
      return "no such slotmap";
  }
  return "?";
}

Result<const Slotmap*, SlotmapError> Slotmaps::add(BankSlot bank, ClientSlot client) {
  if (bank.bank_id > 1023 || bank.slot > 1023 || client.client_id > 1023 || client.slot > 1023)
    return fail(SlotmapError::out_of_range);
  if (by_bank(bank)) return fail(SlotmapError::bank_slot_in_use);
  if (by_client(client)) return fail(SlotmapError::client_slot_in_use);
  Slotmap m{bank, client, SlotmapState::fresh};
  auto [it, inserted] = maps_.emplace(m.id(), m);
  return &it->second;
}

const Slotmap* Slotmaps::by_id(uint32_t id) const {
  auto it = maps_.find(id);
  return it == maps_.end() ? nullptr : &it->second;
}

const Slotmap* Slotmaps::by_bank(BankSlot bank) const {
  return by_id(Slotmap{bank, {}, {}}.id());
}

const Slotmap* Slotmaps::by_client(ClientSlot client) const {
  for (const auto& [id, m] : maps_)
    if (m.client == client) return &m;
  return nullptr;
}

namespace {
bool step(std::map<uint32_t, Slotmap>& maps, uint32_t id, SlotmapState from, SlotmapState to) {
  auto it = maps.find(id);
  if (it == maps.end() || it->second.state != from) return false;
  it->second.state = to;
  return true;
}
}  // namespace

bool Slotmaps::create_sent(uint32_t id) {
  if (!step(maps_, id, SlotmapState::fresh, SlotmapState::unacknowledged)) return false;
  maps_[id].sent = true;
  return true;
}
bool Slotmaps::create_acked(uint32_t id) {
  return step(maps_, id, SlotmapState::unacknowledged, SlotmapState::active);
}
bool Slotmaps::remove_sent(uint32_t id) {
  return step(maps_, id, SlotmapState::delete_req, SlotmapState::deleting);
}
bool Slotmaps::remove_acked(uint32_t id) {
  auto it = maps_.find(id);
  if (it == maps_.end() || it->second.state != SlotmapState::deleting) return false;
  maps_.erase(it);
  return true;
}

Result<void, SlotmapError> Slotmaps::request_delete(uint32_t id, bool* removed) {
  if (removed) *removed = false;
  auto it = maps_.find(id);
  if (it == maps_.end()) return fail(SlotmapError::not_found);
  switch (it->second.state) {
    case SlotmapState::fresh:
      if (it->second.sent) {
        it->second.state = SlotmapState::delete_req;  // the bank may hold it: undo it there
        return {};
      }
      maps_.erase(it);  // never sent to the bank: nothing to undo there
      if (removed) *removed = true;
      return {};
    case SlotmapState::unacknowledged:
    case SlotmapState::active:
      it->second.state = SlotmapState::delete_req;
      return {};
    case SlotmapState::delete_req:
    case SlotmapState::deleting:
      return {};  // already on its way out
  }
  return {};
}

void Slotmaps::bank_lost(uint16_t bank_id) {
  for (auto it = maps_.begin(); it != maps_.end();) {
    Slotmap& m = it->second;
    if (m.bank.bank_id != bank_id) {
      ++it;
    } else {
      if (m.state == SlotmapState::deleting) m.state = SlotmapState::delete_req;
      if (m.state == SlotmapState::unacknowledged || m.state == SlotmapState::active)
        m.state = SlotmapState::fresh;
      ++it;
    }
  }
}

std::string Slotmaps::save() const {
  std::string out = "# remsim slotmaps: bankId slotNr clientId slotNr [delete]\n";
  for (const auto& [id, m] : maps_) {
    const bool deleting = m.state == SlotmapState::delete_req || m.state == SlotmapState::deleting;
    out += fmt::format("{} {} {} {}{}\n", m.bank.bank_id, m.bank.slot, m.client.client_id,
                       m.client.slot, deleting ? " delete" : "");
  }
  return out;
}

Result<Slotmaps, std::string> Slotmaps::load(std::string_view text, std::string_view name) {
  Slotmaps maps;
  std::vector<std::string> problems;
  for_each_line(text, [&](std::string_view line, size_t line_no) {
    if (const size_t hash = line.find('#'); hash != std::string_view::npos)
      line = line.substr(0, hash);
    bool deleting = false;
    if (const size_t d = line.find("delete"); d != std::string_view::npos) {
      const std::string_view tail = line.substr(d + 6);
      deleting = tail.find_first_not_of(" \t\r") == std::string_view::npos;
      if (deleting) line = line.substr(0, d);
    }
    uint32_t v[4];
    size_t n = 0;
    const char* p = line.data();
    const char* e = line.data() + line.size();
    bool bad = false;
    while (p < e && !bad) {
      while (p < e && (*p == ' ' || *p == '\t' || *p == '\r')) ++p;
      if (p == e) break;
      if (n == 4) {
        bad = true;
        break;
      }
      auto [q, ec] = std::from_chars(p, e, v[n]);
      if (ec != std::errc()) bad = true;
      p = q;
      ++n;
    }
    if (n == 0 && !bad) return;
    if (bad || n != 4) {
      problems.push_back(
          fmt::format("{}:{}: expected bankId slotNr clientId slotNr [delete]", name, line_no));
      return;
    }
    auto r = maps.add({static_cast<uint16_t>(std::min<uint32_t>(v[0], 65535)),
                       static_cast<uint16_t>(std::min<uint32_t>(v[1], 65535))},
                      {static_cast<uint16_t>(std::min<uint32_t>(v[2], 65535)),
                       static_cast<uint16_t>(std::min<uint32_t>(v[3], 65535))});
    if (!r) {
      problems.push_back(fmt::format("{}:{}: {}", name, line_no, to_string(r.error())));
    } else {
      // The bank may hold it from before the restart.
      Slotmap& m = maps.maps_[(*r)->id()];
      m.sent = true;
      if (deleting) m.state = SlotmapState::delete_req;
    }
  });
  if (!problems.empty()) {
    std::string all;
    for (const auto& pr : problems) all += pr + "\n";
    all.pop_back();
    return fail(std::move(all));
  }
  return maps;
}

}  // namespace cp::remsim
