// gtest glue for simulated tests (header-only; include it from tests, never from the library):
// every failure message carries the run's seed, the seed can be forced with CP_SIM_SEED, and a
// failed test prints the network's trace.
//
//   CP_SIM_SEED(seed, 0x5eed);                 // CP_SIM_SEED=0x... overrides 0x5eed
//   cp::ManualClock clock;
//   cp::sim::SimNetwork net(seed, clock, faults);
//   cp::sim::TraceOnFailure dump(net);         // prints seed + trace if the test failed
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>

#include "engine/sim/sim_network.h"

// Declares `const uint64_t var`: CP_SIM_SEED from the environment, else `default_seed`; every
// failure in the enclosing scope then names the seed and how to rerun it.
#define CP_SIM_SEED(var, default_seed)                         \
  const uint64_t var = ::cp::sim::seed_from_env(default_seed); \
  SCOPED_TRACE(::cp::sim::seed_message(var))

namespace cp::sim {

// Prints the seed and the kept trace lines of `net` to stderr when the running test has failed
// by the time this goes out of scope. Declare it right after the network it watches.
class TraceOnFailure {
 public:
  explicit TraceOnFailure(const SimNetwork& net) : net_(net) {}
  ~TraceOnFailure() {
    if (!::testing::Test::HasFailure()) return;
    std::fprintf(stderr, "%s\n%s", seed_message(net_.seed()).c_str(), net_.trace_text().c_str());
  }
  TraceOnFailure(const TraceOnFailure&) = delete;
  TraceOnFailure& operator=(const TraceOnFailure&) = delete;

 private:
  const SimNetwork& net_;
};

}  // namespace cp::sim
