#!/usr/bin/env bash
# CPU time per request of each process on the read path: the proxy, the upstream and the load
# generator (wrk), for `GET PATH` sent CONNS connections at a time for DURATION seconds.
#
# Why CPU time and not req/s: on a small shared machine throughput swings with whatever else runs,
# while the CPU a process spends per request it serves is steady from run to run. It is what
# decides the throughput ratio when the three processes share the cores.
#
# Placement: wrk and the upstream on core 0, the proxy (1 worker thread, admission off) on core 1,
# as in the "pinned" rows of bench/proxy/run.sh. Two runs: direct (wrk -> upstream) and proxied
# (wrk -> proxy -> upstream). CPU is read from /proc/PID/stat (utime + stime of all threads)
# before and after each run; requests from wrk's count.
#
# Usage: bench/proxy/cpu_per_request.sh      (env: DURATION=10 CONNS=16 PATH_=/ping DIRECT=1 PERF=0
#        UPSTREAM_BIN=bench/proxy/sim_upstream.sh; PERF=1 also writes a `perf record -g` profile of
#        the proxy to $CARGO_TARGET_DIR/proxy.perf.data; PERF=syscalls counts the upstream's
#        (direct run) and the proxy's (proxied run) system calls per request; PERF=mallocs counts
#        the proxy's malloc/realloc calls per request, after `perf probe -x LIBC malloc` and realloc)
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${DURATION:-10}
CONNS=${CONNS:-16}
REQ_PATH=${PATH_:-/ping}
PERF=${PERF:-0}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build -q --release --bin marathon-admission
BIN=${PROXY_BIN:-"$CARGO_TARGET_DIR/release/marathon-admission"}
UPSTREAM_BIN=${UPSTREAM_BIN:-bench/proxy/sim_upstream.sh}

TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

UP=127.0.0.1:18190
PX=127.0.0.1:18191
ADMIN=127.0.0.1:19191

taskset -c 0 $UPSTREAM_BIN "$UP" >"$TMP/upstream.log" 2>&1 &
UP_PID=$!
PIDS+=("$UP_PID")
printf '[runtime]\nworker_threads = 1\n\n[admission]\nenabled = false\n' >"$TMP/px.toml"
MARATHON_ADMISSION_LOG=warn taskset -c 1 "$BIN" serve --config "$TMP/px.toml" --listen "$PX" \
  --admin-listen "$ADMIN" --marathon "http://$UP" >"$TMP/px.log" 2>&1 &
PX_PID=$!
PIDS+=("$PX_PID")

for _ in $(seq 1 100); do
  curl -fs "http://$ADMIN/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "http://$ADMIN/readyz" >/dev/null || { echo "proxy not ready"; cat "$TMP"/*.log; exit 1; }

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
uticks() { awk '{print $14}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

measure() { # label url -> prints a row; sets globals
  local label=$1 url=$2 out up0 px0 up1 px1 pu0 pu1 reqs wrk_cpu
  up0=$(ticks "$UP_PID"); px0=$(ticks "$PX_PID"); pu0=$(uticks "$PX_PID")
  local perf_pid=""
  if [ "$PERF" = 1 ] && [ "$label" = proxied ]; then
    perf record -q -g -p "$PX_PID" -o "$CARGO_TARGET_DIR/proxy.perf.data" -- sleep "$DURATION" >/dev/null 2>&1 &
    perf_pid=$!
  elif [ "$PERF" = syscalls ]; then
    local pid=$PX_PID; [ "$label" = direct ] && pid=$UP_PID
    perf stat -x, -e 'syscalls:sys_enter_*' -p "$pid" -o "$TMP/syscalls-$label" -- sleep "$DURATION" >/dev/null 2>&1 &
    perf_pid=$!
  elif [ "$PERF" = mallocs ] && [ "$label" = proxied ]; then
    # needs `perf probe -x <libc> malloc` (and realloc) once, as root
    perf stat -x, -e 'probe_libc:malloc,probe_libc:realloc' -p "$PX_PID" -o "$TMP/syscalls-$label" -- sleep "$DURATION" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  out=$( { TIMEFORMAT='%U %S'; time taskset -c 0 wrk -t1 -c"$CONNS" -d"${DURATION}s" "$url"; } 2>&1 )
  [ -n "$perf_pid" ] && wait "$perf_pid"
  up1=$(ticks "$UP_PID"); px1=$(ticks "$PX_PID"); pu1=$(uticks "$PX_PID")
  if echo "$out" | grep -q -E "Non-2xx|Socket errors"; then echo "$out" >&2; exit 1; fi
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  wrk_cpu=$(echo "$out" | tail -1 | awk '{print $1 + $2}')
  awk -v l="$label" -v n="$reqs" -v d="$DURATION" -v hz="$HZ" -v w="$wrk_cpu" \
      -v u="$((up1 - up0))" -v p="$((px1 - px0))" -v pu="$((pu1 - pu0))" 'BEGIN{
    printf "%-8s %9d req %7.0f req/s  us CPU per request: wrk %5.2f  upstream %5.2f  proxy %5.2f (user %5.2f)\n",
      l, n, n / d, w * 1e6 / n, u / hz * 1e6 / n, p / hz * 1e6 / n, pu / hz * 1e6 / n }'
  if [ -f "$TMP/syscalls-$label" ]; then
    local who=proxy; [ "$label" = direct ] && who=upstream
    awk -F, -v n="$reqs" -v who="$who" '$1 + 0 > 0 { sub("syscalls:sys_enter_|probe_libc:", "", $3); printf "  %s calls per request: %-14s %6.2f\n", who, $3, $1 / n }' "$TMP/syscalls-$label" | sort -k6 -nr
  fi
}

taskset -c 0 wrk -t1 -c4 -d2s "http://$UP$REQ_PATH" >/dev/null
taskset -c 0 wrk -t1 -c4 -d2s "http://$PX$REQ_PATH" >/dev/null
echo "GET $REQ_PATH, $CONNS connections, ${DURATION}s; wrk + upstream on core 0, proxy on core 1"
[ "${DIRECT:-1}" = 1 ] && measure direct "http://$UP$REQ_PATH"
measure proxied "http://$PX$REQ_PATH"
