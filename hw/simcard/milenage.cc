#include "hw/simcard/milenage.h"

#include <nettle/aes.h>

#include <algorithm>

namespace cp::simcard {

namespace {

Block encrypt(const Block& k, const Block& in) {
  aes128_ctx ctx;
  aes128_set_encrypt_key(&ctx, k.data());
  Block out;
  aes128_encrypt(&ctx, out.size(), out.data(), in.data());
  return out;
}

Block xor_of(const Block& a, const Block& b) {
  Block out;
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(a[i] ^ b[i]);
  return out;
}

// Cyclic rotation left by `bytes` octets (the r constants of TS 35.206 are multiples of 8).
Block rotate(const Block& x, size_t bytes) {
  Block out;
  for (size_t i = 0; i < out.size(); ++i) out[i] = x[(i + bytes) % out.size()];
  return out;
}

Block constant(uint8_t last) {
  Block c{};
  c[15] = last;
  return c;
}

}  // namespace

Block milenage_opc(const Block& k, const Block& op) {
  return xor_of(encrypt(k, op), op);
}

MilenageOut milenage(const Block& k, const Block& opc, const Block& rand,
                     std::span<const uint8_t, 6> sqn, std::span<const uint8_t, 2> amf) {
  const Block temp = encrypt(k, xor_of(rand, opc));
  Block in1;
  std::copy(sqn.begin(), sqn.end(), in1.begin());
  std::copy(amf.begin(), amf.end(), in1.begin() + 6);
  std::copy(sqn.begin(), sqn.end(), in1.begin() + 8);
  std::copy(amf.begin(), amf.end(), in1.begin() + 14);
  // OUT1 = E_K(TEMP xor rot(IN1 xor OPc, r1) xor c1) xor OPc, r1 = 64 bits, c1 = 0.
  const Block out1 = xor_of(encrypt(k, xor_of(temp, rotate(xor_of(in1, opc), 8))), opc);
  // OUTn = E_K(rot(TEMP xor OPc, rn) xor cn) xor OPc for n = 2..5.
  auto out = [&](size_t r_bytes, uint8_t c) {
    return xor_of(encrypt(k, xor_of(rotate(xor_of(temp, opc), r_bytes), constant(c))), opc);
  };
  const Block out2 = out(0, 1), out3 = out(4, 2), out4 = out(8, 4), out5 = out(12, 8);
  MilenageOut m;
  std::copy_n(out1.begin(), 8, m.mac_a.begin());
  std::copy_n(out1.begin() + 8, 8, m.mac_s.begin());
  std::copy_n(out2.begin() + 8, 8, m.res.begin());
  std::copy_n(out2.begin(), 6, m.ak.begin());
  m.ck = out3;
  m.ik = out4;
  std::copy_n(out5.begin(), 6, m.ak_s.begin());
  return m;
}

}  // namespace cp::simcard
