// MILENAGE (3GPP TS 35.206): the authentication and key generation functions f1, f1*, f2, f3,
// f4, f5 and f5* a USIM computes from its K and OPc — what the simulated SIM card answers
// AUTHENTICATE with (issue 6). AES-128 is Nettle's (Debian nettle-dev). Checked against the
// test sets of TS 35.207.
#pragma once

#include <array>
#include <cstdint>
#include <span>

namespace cp::simcard {

using Block = std::array<uint8_t, 16>;

struct MilenageOut {
  std::array<uint8_t, 8> mac_a;  // f1
  std::array<uint8_t, 8> mac_s;  // f1*
  std::array<uint8_t, 8> res;    // f2
  Block ck;                      // f3
  Block ik;                      // f4
  std::array<uint8_t, 6> ak;     // f5
  std::array<uint8_t, 6> ak_s;   // f5*
};

// OPc = E_K(OP) xor OP.
Block milenage_opc(const Block& k, const Block& op);
// Every function at once for (K, OPc, RAND, SQN, AMF).
MilenageOut milenage(const Block& k, const Block& opc, const Block& rand,
                     std::span<const uint8_t, 6> sqn, std::span<const uint8_t, 2> amf);

}  // namespace cp::simcard
