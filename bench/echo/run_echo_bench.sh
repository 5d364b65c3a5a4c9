#!/usr/bin/env bash
# The echo benchmark, side by side in one run: for each server variant (the engine on io_uring,
# the engine on epoll, the blocking thread-per-connection baseline) and each connection count,
# start a fresh cp_echo_server pinned to one CPU, load it with cp_echo_load pinned to the other,
# repeat --runs times, and print the medians (round trips/s, p50/p99 µs, CPU use of both sides)
# with the ratios io_uring/epoll and io_uring/blocking. Then the idle-memory check: the server's
# VmRSS before and after opening N idle connections, per connection, against the 8 KiB target.
#
# Builds nothing: pass the build directory that holds bench/echo/cp_echo_{server,load}.
#   bench/echo/run_echo_bench.sh --build-dir build/release            # full run, ~8 minutes
#   bench/echo/run_echo_bench.sh --build-dir build/release --quick --runs 1   # ctest smoke
# Options: --runs N (5) --duration-s S (5) --warmup-s S (1) --connections "1 100 10000"
#          --variants "io_uring epoll blocking" --threads T (load threads, 1)
#          --message-bytes B (64) --idle-connections N (10000) --idle-hold-s S (3)
#          --idle-variants "io_uring epoll blocking" --no-idle --server-cpu C (0) --load-cpu C (1)
# Exit status: 0 when every cell ran or was skipped for a stated reason, 1 otherwise.
set -u -o pipefail

command_line="$0 $*"
build_dir=""
runs=5
duration_s=5
warmup_s=1
connections_list="1 100 10000"
variants="io_uring epoll blocking"
load_threads=1
message_bytes=64
idle_connections=10000
idle_hold_s=3
idle_variants="io_uring epoll blocking"
do_idle=1
server_cpu=0
load_cpu=1

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-dir) build_dir="$2"; shift ;;
    --quick)
      connections_list="1 100"; duration_s=1; warmup_s=0.2
      idle_connections=1000; idle_hold_s=1; idle_variants="io_uring" ;;
    --runs) runs="$2"; shift ;;
    --duration-s) duration_s="$2"; shift ;;
    --warmup-s) warmup_s="$2"; shift ;;
    --connections) connections_list="$2"; shift ;;
    --variants) variants="$2"; shift ;;
    --threads) load_threads="$2"; shift ;;
    --message-bytes) message_bytes="$2"; shift ;;
    --idle-connections) idle_connections="$2"; shift ;;
    --idle-hold-s) idle_hold_s="$2"; shift ;;
    --idle-variants) idle_variants="$2"; shift ;;
    --no-idle) do_idle=0 ;;
    --server-cpu) server_cpu="$2"; shift ;;
    --load-cpu) load_cpu="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
    *) build_dir="$1" ;;
  esac
  shift
done

server_bin="$build_dir/bench/echo/cp_echo_server"
load_bin="$build_dir/bench/echo/cp_echo_load"
for bin in "$server_bin" "$load_bin"; do
  if [[ ! -x "$bin" ]]; then
    echo "missing $bin: build cp_echo_server and cp_echo_load first (--build-dir DIR)" >&2
    exit 2
  fi
done

work_dir="$(mktemp -d "${TMPDIR:-/tmp}/cp_echo_bench.XXXXXX")"
server_pid=""
load_pid=""
cleanup() {
  [[ -n "$load_pid" ]] && kill -KILL "$load_pid" 2>/dev/null
  [[ -n "$server_pid" ]] && kill -KILL "$server_pid" 2>/dev/null
  rm -rf "$work_dir"
}
trap cleanup EXIT

# ---- the machine ---------------------------------------------------------------------------------

# 10,000 connections need 10,000 descriptors on each side, plus a few.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
fd_limit="$(ulimit -n)"

cpu_count="$(nproc)"
pin_server=()
pin_load=()
if command -v taskset >/dev/null && [[ "$cpu_count" -ge 2 ]]; then
  pin_server=(taskset -c "$server_cpu")
  pin_load=(taskset -c "$load_cpu")
  pinning="server on CPU $server_cpu, load generator on CPU $load_cpu (taskset)"
else
  pinning="no pinning (taskset missing or fewer than 2 CPUs)"
fi

# Compilers and linkers of other builders share these two CPUs: say how many ran.
compilers_running() {
  ps -eo comm= | grep -cE '^(cc1|cc1plus|clang|clang\+\+|clang-[0-9]+|ld|lld)$'
}

echo "# echo benchmark — $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
cpu_model="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
echo "# machine: ${cpu_count} CPU(s), ${cpu_model}, kernel $(uname -r)"
echo "# command: $command_line"
echo "# runs=$runs duration_s=$duration_s warmup_s=$warmup_s message_bytes=$message_bytes" \
  "load_threads=$load_threads"
echo "# $pinning; RLIMIT_NOFILE=$fd_limit"
echo "# other load at start: compiler processes=$(compilers_running), loadavg $(loadavg)"

# ---- helpers -------------------------------------------------------------------------------------

json_field() {  # FILE KEY -> the number after "KEY":
  sed -n "s/.*\"$2\": \([-0-9.]*\).*/\1/p" "$1" | tail -n1
}

stat_field() {  # FILE KEY -> the number after KEY= on the server's stats line(s), summed
  grep -o "$2=[0-9]*" "$1" | cut -d= -f2 | awk '{s += $1} END {print s + 0}'
}

median() {  # numbers... -> median, or NA when there are none
  printf '%s\n' "$@" | grep -E '^-?[0-9.]+$' | sort -g |
    awk '{a[NR] = $1} END {
      if (NR == 0) print "NA"; else if (NR % 2) print a[(NR + 1) / 2];
      else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

ratio() {  # A B -> A/B with two decimals, or NA
  awk -v a="$1" -v b="$2" 'BEGIN {
    if (a == "NA" || b == "NA" || b + 0 == 0) print "NA"; else printf "%.2f", a / b }'
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }

# Starts a server of `variant`; sets server_pid and server_addr. Returns 1 if it did not start.
start_server() {
  local variant="$1" tag="$2"
  local args=()
  case "$variant" in
    io_uring|epoll)
      args=(--backend "$variant" --cores 1)
      if [[ ${#pin_server[@]} -gt 0 ]]; then args+=(--no-pin); else args+=(--pin); fi ;;
    blocking) args=(--blocking) ;;
    *) echo "unknown variant $variant" >&2; return 1 ;;
  esac
  server_out="$work_dir/$tag.server.out"
  server_err="$work_dir/$tag.server.err"
  "${pin_server[@]}" "$server_bin" --listen 127.0.0.1:0 "${args[@]}" >"$server_out" \
    2>"$server_err" &
  server_pid=$!
  for _ in $(seq 1 200); do
    if grep -q '^listening on ' "$server_out" 2>/dev/null; then
      server_addr="$(sed -n 's/^listening on //p' "$server_out" | head -n1)"
      return 0
    fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$server_pid" 2>/dev/null
  wait "$server_pid" 2>/dev/null
  server_pid=""
  return 1
}

stop_server() {
  [[ -z "$server_pid" ]] && return
  kill -TERM "$server_pid" 2>/dev/null
  for _ in $(seq 1 200); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$server_pid" 2>/dev/null
  wait "$server_pid" 2>/dev/null
  server_pid=""
}

# ---- throughput and latency ----------------------------------------------------------------------

declare -A rt p50 p99 srv_cpu load_cpu other_cpu waits note
failures=0

run_cell() {  # VARIANT CONNECTIONS RUN
  local variant="$1" conns="$2" run="$3" tag="$1.$2.$3"
  local key="$variant,$conns"
  if (( conns + 64 > fd_limit )); then
    note[$key]="skipped: RLIMIT_NOFILE $fd_limit is too low for $conns connections"
    return
  fi
  if ! start_server "$variant" "$tag"; then
    note[$key]="skipped: server did not start ($(tail -n1 "$server_err" 2>/dev/null))"
    return
  fi
  local out="$work_dir/$tag.load.out"
  "${pin_load[@]}" "$load_bin" --connect "$server_addr" --connections "$conns" \
    --threads "$load_threads" --message-bytes "$message_bytes" --warmup-s "$warmup_s" \
    --duration-s "$duration_s" --server-pid "$server_pid" >"$out" 2>"$work_dir/$tag.load.err"
  local status=$?
  stop_server
  if [[ $status -ne 0 ]]; then
    if grep -q 'thread creation failed' "$server_err"; then
      local why
      why="$(grep -m1 'thread creation failed' "$server_err" | sed 's/.*failed: //')"
      note[$key]="skipped: the blocking server could not create $conns threads ($why)"
    else
      note[$key]="FAILED (run $run): $(tail -n2 "$work_dir/$tag.load.err" | tr '\n' ' ')"
      failures=$((failures + 1))
    fi
    return
  fi
  local rate lat50 lat99 scpu lcpu
  rate="$(json_field "$out" round_trips_per_s)"
  lat50="$(json_field "$out" p50_us)"
  lat99="$(json_field "$out" p99_us)"
  scpu="$(json_field "$out" server_cpu_pct)"
  lcpu="$(json_field "$out" load_cpu_pct)"
  # What the rest of the machine used meanwhile: softirq work that ran outside both processes
  # (loopback TCP receives while a CPU was idle) and other tenants (compilers). With few
  # connections the first explains ~40 %; with many, "rest" above ~10 % makes a run suspect.
  # The softirq column is shown apart for reference; it overlaps the processes' own time.
  local sirq other
  sirq="$(json_field "$out" softirq_pct)"
  other="$(awk -v m="$(json_field "$out" machine_busy_pct)" -v s="$scpu" -v l="$lcpu" \
    'BEGIN {o = m - s - l; printf "%.0f", o < 0 ? 0 : o}')"
  other_cpu[$key]+=" $other"
  rt[$key]+=" $rate"; p50[$key]+=" $lat50"; p99[$key]+=" $lat99"
  srv_cpu[$key]+=" $scpu"; load_cpu[$key]+=" $lcpu"
  # The server's wait calls (io_uring_enter or epoll_pwait2) per round trip, warm-up included.
  local calls bytes
  calls="$(stat_field "$server_err" backend_submit_calls)"
  bytes="$(stat_field "$server_err" bytes_received)"
  if [[ "$variant" != blocking && "$bytes" -gt 0 ]]; then
    waits[$key]+=" $(awk -v c="$calls" -v b="$bytes" -v m="$message_bytes" \
      'BEGIN {printf "%.3f", c / (b / m)}')"
  fi
  printf '  %-8s conns=%-6s run=%s  %9.0f rt/s  p50 %7.1f µs  p99 %7.1f µs' \
    "$variant" "$conns" "$run" "$rate" "$lat50" "$lat99"
  printf '  cpu srv %3.0f%% load %3.0f%% rest %3s%% (softirq %3.0f%%)\n' "$scpu" "$lcpu" "$other" \
    "$sirq"
}

echo
echo "## runs"
for conns in $connections_list; do
  for run in $(seq 1 "$runs"); do
    for variant in $variants; do  # interleaved, so drift on the machine hits every variant alike
      key="$variant,$conns"
      [[ -n "${note[$key]:-}" && "${note[$key]}" == skipped* ]] && continue
      run_cell "$variant" "$conns" "$run"
    done
  done
done

med() { median ${1:-}; }

echo
echo "## medians of $runs run(s)"
echo "round trips/s, latency p50/p99 in µs; CPU in % of one CPU: server / load generator /"
echo "rest of the machine (softirq run outside both processes, other tenants)"
echo
printf '| conns |'
for variant in $variants; do printf ' %s rt/s | p50 | p99 | CPU srv/load/rest |' "$variant"; done
printf ' io_uring/epoll | io_uring/blocking |\n'
printf '| ---: |'
for variant in $variants; do printf ' ---: | ---: | ---: | ---: |'; done
printf ' ---: | ---: |\n'
for conns in $connections_list; do
  printf '| %s |' "$conns"
  for variant in $variants; do
    key="$variant,$conns"
    if [[ -z "${rt[$key]:-}" ]]; then
      printf ' n/a | | | |'
      continue
    fi
    printf ' %.0f | %s | %s | %.0f/%.0f/%.0f |' "$(med "${rt[$key]}")" \
      "$(med "${p50[$key]}")" "$(med "${p99[$key]}")" "$(med "${srv_cpu[$key]}")" \
      "$(med "${load_cpu[$key]}")" "$(med "${other_cpu[$key]}")"
  done
  printf ' %s | %s |\n' \
    "$(ratio "$(med "${rt[io_uring,$conns]:-}")" "$(med "${rt[epoll,$conns]:-}")")" \
    "$(ratio "$(med "${rt[io_uring,$conns]:-}")" "$(med "${rt[blocking,$conns]:-}")")"
done
echo
for conns in $connections_list; do
  for variant in $variants; do
    key="$variant,$conns"
    [[ -n "${note[$key]:-}" ]] && echo "note: $variant at $conns connections: ${note[$key]}"
    [[ -n "${rt[$key]:-}" ]] && echo "round trips/s min-max of the runs: $variant," \
      "$conns connections: $(printf '%s\n' ${rt[$key]} | sort -g | sed -n '1p;$p' | paste -sd-)"
    [[ -n "${waits[$key]:-}" ]] && echo "server wait calls (io_uring_enter or epoll_pwait2)" \
      "per round trip: $variant, $conns connections: $(med "${waits[$key]}")"
  done
done

# ---- idle memory ---------------------------------------------------------------------------------

if [[ $do_idle -eq 1 ]]; then
  echo
  echo "## idle memory: $idle_connections idle connections, server VmRSS after - before"
  for variant in $idle_variants; do
    if (( idle_connections + 64 > fd_limit )); then
      echo "  $variant: skipped: RLIMIT_NOFILE $fd_limit is too low"
      continue
    fi
    if ! start_server "$variant" "idle.$variant"; then
      echo "  $variant: skipped: server did not start ($(tail -n1 "$server_err" 2>/dev/null))"
      continue
    fi
    sleep 0.3
    before_kib="$(rss_kib "$server_pid")"
    idle_out="$work_dir/idle.$variant.load.out"
    "${pin_load[@]}" "$load_bin" --connect "$server_addr" --connections "$idle_connections" \
      --idle --duration-s "$idle_hold_s" >"$idle_out" 2>"$work_dir/idle.$variant.load.err" &
    load_pid=$!
    held=0
    for _ in $(seq 1 1200); do
      if grep -q '^holding ' "$idle_out" 2>/dev/null; then held=1; break; fi
      kill -0 "$load_pid" 2>/dev/null || break
      sleep 0.05
    done
    sleep 0.5
    after_kib="$(rss_kib "$server_pid")"
    wait "$load_pid"
    idle_status=$?
    load_pid=""
    stop_server
    if [[ $held -ne 1 || $idle_status -ne 0 ]]; then
      if grep -q 'thread creation failed' "$server_err"; then
        echo "  $variant: skipped: the blocking server could not create enough threads"
      else
        echo "  $variant: FAILED:" \
          "$(cat "$idle_out" "$work_dir/idle.$variant.load.err" | tail -n2 | tr '\n' ' ')"
        failures=$((failures + 1))
      fi
      continue
    fi
    awk -v v="$variant" -v b="$before_kib" -v a="$after_kib" -v n="$idle_connections" 'BEGIN {
      per = (a - b) * 1024 / n
      printf "  %-8s before %7d KiB  after %7d KiB  -> %6.0f bytes per connection",
        v, b, a, per
      printf " (target <= 8192: %s)\n", per <= 8192 ? "met" : "MISSED" }'
  done
fi

echo
echo "# other load at end: compiler processes=$(compilers_running), loadavg $(loadavg)"
if [[ $failures -gt 0 ]]; then
  echo "# $failures failure(s)"
  exit 1
fi
exit 0
