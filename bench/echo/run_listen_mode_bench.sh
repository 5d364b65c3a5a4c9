#!/usr/bin/env bash
# SO_REUSEPORT vs accept-and-hand-off (docs/BENCHMARKS.md): a cp_echo_server with 2 reactors in
# each listen mode, loaded by cp_echo_load with 2 threads (both share the 2 CPUs), 100 and 1,000
# connections, 3 interleaved runs each; one JSON result line per run.
#   bench/echo/run_listen_mode_bench.sh [BUILD_DIR]      (default build/release)
set -u
B=${1:-build/release}/bench/echo
ulimit -n "$(ulimit -Hn)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for conns in 100 1000; do
  for run in 1 2 3; do
    for mode in reuseport handoff; do
      $B/cp_echo_server --listen 127.0.0.1:0 --cores 2 --listen-mode $mode > "$tmp/srv.out" 2>"$tmp/srv.err" &
      pid=$!
      for i in $(seq 50); do grep -q listening "$tmp/srv.out" && break; sleep 0.1; done
      addr=$(awk '/listening on/ {print $3}' "$tmp/srv.out")
      out=$($B/cp_echo_load --connect $addr --connections $conns --threads 2 --duration-s 4 --warmup-s 1)
      kill $pid; wait $pid 2>/dev/null
      dist=$(grep -o "accepted[^,]*" "$tmp/srv.err" | tr '\n' ' ')
      echo "$mode conns=$conns run=$run $out | $dist"
    done
  done
done
