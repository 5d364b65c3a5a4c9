// libFuzzer target for what the remote-SIM services read from files and from clients that is not
// RSPRO itself (rspro_fuzz has that): the first input byte picks
//   0  the server's slotmaps file (services/remsim/slotmap.h); what loads must save and load back
//      to the same table;
//   1  the bank daemon's reader CSV, osmo-remsim's format (services/remsim/card_backend.h);
//   2  a simulated card's contents file (hw/simcard/card.h);
//   3  a stream of APDUs to the simulated card, each a length byte and that many bytes (what
//      a remsim client's TPDUs carry to it): any sequence must get answers, never a crash.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "hw/simcard/card.h"
#include "services/remsim/card_backend.h"
#include "services/remsim/slotmap.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0] % 4;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (mode) {
    case 0: {
      auto maps = cp::remsim::Slotmaps::load(text, "fuzz");
      if (!maps) break;
      const std::string saved = maps->save();
      auto again = cp::remsim::Slotmaps::load(saved, "saved");
      if (!again || again->save() != saved) {
        std::fprintf(stderr, "remsim_files_fuzz: slotmaps do not round-trip\n");
        std::abort();
      }
      break;
    }
    case 1:
      (void)cp::remsim::parse_reader_csv(text, "fuzz", 1);
      break;
    case 2:
      (void)cp::simcard::parse_contents(text, "fuzz");
      break;
    case 3: {
      cp::simcard::Card card(cp::simcard::simulated_contents(1, 0));
      card.reset();
      for (size_t at = 1; at < size;) {
        const size_t n = data[at++];
        if (n > size - at) break;
        const auto r = card.transmit({data + at, n});
        if (r.size() < 2) {
          std::fprintf(stderr, "remsim_files_fuzz: an answer without a status word\n");
          std::abort();
        }
        at += n;
      }
      break;
    }
  }
  return 0;
}
