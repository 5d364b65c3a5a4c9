// libFuzzer target for the SMSC local socket decoder (services/smsc/wire.h) and admission
// (services/smsc/admission.h). The input is a stream of messages as a client would send them:
// each one the decoder accepts must re-encode to the same bytes (requests the core answers),
// and every decoded SUBMIT goes through admission against a small number database, which
// must accept or refuse it with a status, never crash; an admitted record must pass the user
// data check and carry a valid expiry.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "services/smsc/admission.h"
#include "services/smsc/wire.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "smsc_wire_fuzz: %s\n", what);
  std::abort();
}

const cp::smsc::Numdb& db() {
  static const auto numdb = *cp::smsc::Numdb::parse(
      "2125550100 gsm smsprov\n2125550101 local\n5000 gsm\n", "numbers", "212666* acme\n", "peers");
  return *numdb;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cp::smsc;
  std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
  while (in.size() >= wire::kHeaderBytes) {
    const auto h = wire::peek_header(in);
    if (h->length < wire::kHeaderBytes || h->length > in.size()) break;
    wire::Message m;
    const auto bytes = in.first(h->length);
    in = in.subspan(h->length);
    if (wire::decode(bytes, m) != wire::Status::ok || m.header.response()) continue;
    std::byte out[wire::kMessageMax];
    size_t n = 0;
    switch (m.header.type) {
      case wire::Type::submit:
        n = wire::encode_submit(out, m.header.request_id, m.submit);
        break;
      case wire::Type::cancel:
      case wire::Type::change_srr:
        n = wire::encode_target(out, m.header.type, m.header.request_id, m.target, m.srr);
        break;
      case wire::Type::rh_register:
        n = wire::encode_register(out, m.header.request_id, m.reg);
        break;
      case wire::Type::rh_service_state:
        n = wire::encode_service_state(out, m.header.request_id, m.up);
        break;
      case wire::Type::mt_discharge:
        n = wire::encode_discharge(out, m.header.request_id, m.discharge);
        break;
      default:
        continue;
    }
    if (n != bytes.size() || std::memcmp(out, bytes.data(), n) != 0)
      fail("a decoded request does not re-encode to its bytes");
    if (m.header.type != wire::Type::submit) continue;
    cp::storage::SmRecord rec;
    auto a = admit(db(), AdmissionConfig{}, m.submit, 1'000'000'000'000'000'000, rec);
    if (a) {
      if (!user_data_valid(rec)) fail("admitted user data that does not check");
      if (rec.time_expiry_ns <= 1'000'000'000'000'000'000) fail("an expiry in the past");
    }
  }
  return 0;
}
