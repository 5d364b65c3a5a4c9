// libFuzzer target for the number database parser and admission routing (services/smsc/).
// Input: the numbers file, a NUL byte, the peers file, a NUL byte, then destination digits.
// Parsing must succeed or fail with file:line errors; a parsed database must route any
// destination without crashing, and every number it lists as local must look up as listed.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "services/smsc/numdb.h"
#include "services/smsc/route.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "numdb_fuzz: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t a = in.find('\0');
  const std::string_view numbers = in.substr(0, a);
  std::string_view rest = a == std::string_view::npos ? std::string_view{} : in.substr(a + 1);
  const size_t b = rest.find('\0');
  const std::string_view peers = rest.substr(0, b);
  const std::string_view dst =
      b == std::string_view::npos ? std::string_view{} : rest.substr(b + 1);
  auto db = cp::smsc::Numdb::parse(numbers, "numbers", peers, "peers");
  if (!db) {
    if (db.error().rfind("numbers:", 0) != 0 && db.error().rfind("peers:", 0) != 0)
      fail("an error without file:line");
    return 0;
  }
  for (uint8_t ton : {cp::smsc::kTonUnknown, cp::smsc::kTonInternational}) {
    for (bool local : {false, true}) {
      auto r = cp::smsc::route(**db, {ton, dst, ton, dst, local});
      if (r && r->dst_class == cp::storage::SmeClass::downstream && r->peer >= (*db)->peer_count())
        fail("a peer index out of range");
    }
  }
  return 0;
}
