#!/usr/bin/env bash
# The one entry point for building, running and testing cellplane on a Debian 12 machine.
#
#   scripts/dev.sh run     install what is missing, build (release), start cellplaned in the
#                          foreground on its embedded default configuration (127.0.0.1 only,
#                          state under ./state)
#   scripts/dev.sh test    install what is missing, build, run the whole test suite: the release
#                          build, then the sanitizer build (ASan + UBSan + _GLIBCXX_ASSERTIONS)
#   scripts/dev.sh tsan    the engine's tests (reactor, rings, hardware bridge, blocking worker)
#                          under ThreadSanitizer; CI runs it after `test`
#   scripts/dev.sh build [PRESET]   configure and build one preset (default: release)
#   scripts/dev.sh bench   build release and run the benchmarks (docs/BENCHMARKS.md)
#   scripts/dev.sh fuzz [SECONDS]   build the clang/libFuzzer preset, run every fuzzer a while
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
jobs=${CP_JOBS:-2}

step() { printf '\n== %s\n' "$*"; }

build() {
  local preset=${1:-release}
  step "configure + build ($preset)"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
}

cmd=${1:-help}
shift || true
case "$cmd" in
  run)
    scripts/deps.sh
    build release
    step "starting cellplaned (Ctrl-C stops it; cellctl: build/release/ctl/cellctl status)"
    exec build/release/daemon/cellplaned "$@"
    ;;
  test)
    scripts/deps.sh
    build release
    step "tests (release)"
    ctest --preset release --timeout 300 "$@"
    build ci
    step "tests (sanitizers: ASan + UBSan + _GLIBCXX_ASSERTIONS)"
    # Benchmark smoke runs are release-only: timing under ASan says nothing.
    ctest --preset ci --timeout 600 -LE bench "$@"
    ;;
  tsan)
    scripts/deps.sh
    build tsan
    step "tests (ThreadSanitizer: engine)"
    ctest --preset tsan --timeout 600 "$@"
    ;;
  build)
    scripts/deps.sh
    build "${1:-release}"
    ;;
  bench)
    scripts/deps.sh
    build release
    step "benchmarks"
    bench/echo/run_echo_bench.sh --build-dir build/release "$@"
    build/release/bench/ring/cp_spsc_ring_bench
    build/release/bench/store/cp_store_bench recovery
    build/release/bench/store/cp_store_bench commit
    build/release/bench/dump/cp_dump_bench
    build/release/bench/services/smsc/cp_smsc_bench submit
    build/release/bench/services/smsc/cp_smsc_bench admission
    build/release/bench/services/smpp/cp_smpp_bench
    ;;
  fuzz)
    scripts/deps.sh
    build fuzz
    seconds=${1:-60}
    for f in build/fuzz/fuzz/*_fuzz; do
      name=$(basename "$f")
      step "fuzzing $name for ${seconds}s"
      mkdir -p "build/fuzz/corpus/$name"
      "$f" -max_total_time="$seconds" "build/fuzz/corpus/$name" "fuzz/corpus/$name"
    done
    ;;
  *)
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
    [[ $cmd == help || $cmd == --help || $cmd == -h ]] || exit 2
    ;;
esac
