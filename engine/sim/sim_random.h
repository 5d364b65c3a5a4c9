// Deterministic pseudo-random numbers for the simulator: xoshiro256** seeded through splitmix64.
// The uniform helpers are our own (no <random> distributions, whose output differs between
// standard libraries), so one seed gives the same run with any compiler and library.
// Owned by one SimNetwork and used from the thread that drives it.
#pragma once

#include <cstdint>

namespace cp::sim {

__extension__ typedef unsigned __int128 SimUint128;  // g++ and clang; -Wpedantic knows it not

inline uint64_t splitmix64(uint64_t& state) {
  state += 0x9e3779b97f4a7c15ULL;
  uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Mixes one 64-bit word into a running hash (the splitmix64 finaliser over h ^ v).
inline uint64_t hash_fold(uint64_t h, uint64_t v) {
  uint64_t z = h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class SimRandom {
 public:
  explicit SimRandom(uint64_t seed) {
    uint64_t s = seed;
    for (auto& word : state_) word = splitmix64(s);
  }

  uint64_t next() {
    const uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  // Uniform in [0, bound), by a 128-bit multiply (bias below bound / 2^64, no retry loop).
  uint64_t below(uint64_t bound) {
    if (bound == 0) return 0;
    return static_cast<uint64_t>((static_cast<SimUint128>(next()) * bound) >> 64);
  }

  // Uniform in [lo, hi]; lo when hi <= lo.
  int64_t between(int64_t lo, int64_t hi) {
    if (hi <= lo) return lo;
    const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
    return lo + static_cast<int64_t>(below(span));
  }

  // True with probability p: compares 53 random bits with p * 2^53 (exact in IEEE doubles).
  bool chance(double p) {
    if (!(p > 0)) return false;
    if (p >= 1) return true;
    return (next() >> 11) < static_cast<uint64_t>(p * 9007199254740992.0);
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t state_[4];
};

}  // namespace cp::sim
