#!/usr/bin/env bash
# Proxy read-path benchmark: GET /ping and GET /v2/apps (a 100-app state), directly against an
# upstream and through `marathon-admission serve`, in one run, with wrk. Records the throughput
# ratio and the added p50/p99 latency in docs/BENCHMARKS.md, section "## Proxy read path".
#
# Two measurements per path:
#   - throughput: CONNS concurrent connections (default 16) for DURATION seconds; ratio = proxy/direct.
#   - latency: one connection (one request at a time) for DURATION seconds; the added p50/p99 is the
#     proxy's percentile minus the direct one. A single connection measures service time, not
#     queueing behind a saturated CPU.
# The upstream is crates/proxy/examples/bench_upstream.rs for now (the simulator later:
# set UPSTREAM_CMD to any command that serves /ping and /v2/apps on $UP_ADDR).
#
# Usage: bench/proxy/run.sh            (env: DURATION=10 CONNS=16 WRITE_DOC=1)
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${DURATION:-10}
CONNS=${CONNS:-16}
WRITE_DOC=${WRITE_DOC:-1}
UP_ADDR=${UP_ADDR:-127.0.0.1:18080}
PX_ADDR=${PX_ADDR:-127.0.0.1:18081}
ADMIN_ADDR=${ADMIN_ADDR:-127.0.0.1:19102}
PX1_ADDR=${PX1_ADDR:-127.0.0.1:18082}
ADMIN1_ADDR=${ADMIN1_ADDR:-127.0.0.1:19103}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}

if ! command -v wrk >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y -q wrk >/dev/null || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q wrk >/dev/null; }
fi

cargo build -q --release -p proxy --example bench_upstream
cargo build -q --release --bin marathon-admission
BIN="$CARGO_TARGET_DIR/release/marathon-admission"
UPSTREAM_CMD=${UPSTREAM_CMD:-"$CARGO_TARGET_DIR/release/examples/bench_upstream $UP_ADDR"}

TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

$UPSTREAM_CMD >"$TMP/upstream.log" 2>&1 &
PIDS+=($!)
# Two proxies on the same upstream: the default runtime (one worker per core) and one worker.
# Admission is off: this measures the transparent path.
start_proxy() { # listen admin workers
  printf '[runtime]\nworker_threads = %s\n\n[admission]\nenabled = false\n' "$3" >"$TMP/proxy-$3.toml"
  MARATHON_ADMISSION_LOG=warn "$BIN" serve --config "$TMP/proxy-$3.toml" --listen "$1" \
    --admin-listen "$2" --marathon "http://$UP_ADDR" >"$TMP/proxy-$3.log" 2>&1 &
  PIDS+=($!)
}
start_proxy "$PX_ADDR" "$ADMIN_ADDR" 0
start_proxy "$PX1_ADDR" "$ADMIN1_ADDR" 1

http_status() { # host port path -> status code of GET, or empty
  local host=$1 port=$2 path=$3 line
  exec 3<>"/dev/tcp/$host/$port" 2>/dev/null || return 0
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$host" >&3
  read -r line <&3 || true
  exec 3>&- 3<&-
  echo "$line" | awk '{print $2}'
}
wait_ready() { # admin addr
  for _ in $(seq 1 100); do
    [ "$(http_status "${1%:*}" "${1#*:}" /readyz 2>/dev/null)" = "200" ] && return 0
    sleep 0.1
  done
  echo "proxy at $1 not ready"; cat "$TMP"/proxy-*.log; exit 1
}
wait_ready "$ADMIN_ADDR"
wait_ready "$ADMIN1_ADDR"

to_us() { # "123.45us" | "1.23ms" | "1.00s" -> microseconds
  awk -v v="$1" 'BEGIN{n=v+0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n*1000; else if (v ~ /s$/) print n*1000000; else print n}'
}
run_wrk() { # url conns -> "rps p50us p99us"
  local out
  out=$(wrk -t1 -c"$2" -d"${DURATION}s" --latency "$1")
  if echo "$out" | grep -q -E "Non-2xx|Socket errors"; then echo "$out" >&2; echo "errors during $1" >&2; exit 1; fi
  local rps p50 p99
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(to_us "$(echo "$out" | awk '$1=="50%" {print $2}')")
  p99=$(to_us "$(echo "$out" | awk '$1=="99%" {print $2}')")
  echo "$rps $p50 $p99"
}

ROWS=()
row() { # label direct_rps proxy_rps d50 p50 d99 p99
  awk -v l="$1" -v dr="$2" -v pr="$3" -v d50="$4" -v p50="$5" -v d99="$6" -v p99="$7" 'BEGIN{
    printf "| %s | %.0f | %.0f | %.2f | %.0f | %.0f | %+.0f | %.0f | %.0f | %+.0f |", l, dr, pr, pr/dr, d50, p50, p50-d50, d99, p99, p99-d99 }'
}
for path in /ping /v2/apps; do
  for a in "$UP_ADDR" "$PX_ADDR" "$PX1_ADDR"; do wrk -t1 -c4 -d2s "http://$a$path" >/dev/null; done  # warm-up
  read -r d_rps _ _ <<<"$(run_wrk "http://$UP_ADDR$path" "$CONNS")"
  read -r p_rps _ _ <<<"$(run_wrk "http://$PX_ADDR$path" "$CONNS")"
  read -r p1_rps _ _ <<<"$(run_wrk "http://$PX1_ADDR$path" "$CONNS")"
  read -r _ d50 d99 <<<"$(run_wrk "http://$UP_ADDR$path" 1)"
  read -r _ p50 p99 <<<"$(run_wrk "http://$PX_ADDR$path" 1)"
  read -r _ p150 p199 <<<"$(run_wrk "http://$PX1_ADDR$path" 1)"
  ROWS+=("$(row "\`GET $path\`, proxy 1 worker" "$d_rps" "$p1_rps" "$d50" "$p150" "$d99" "$p199")")
  ROWS+=("$(row "\`GET $path\`, proxy 1 worker/core" "$d_rps" "$p_rps" "$d50" "$p50" "$d99" "$p99")")
  printf '%s\n%s\n' "${ROWS[-2]}" "${ROWS[-1]}"
done

BYTES=$(grep -o '[0-9]* bytes' "$TMP/upstream.log" | head -1 || true)
CPU=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
SECTION="$TMP/section.md"
{
  echo "## Proxy read path"
  echo
  echo "Reads pass through untouched; the target is at least 0.8x the direct throughput and under"
  echo "1 ms added at p99. Measured by \`bench/proxy/run.sh\` (wrk, one thread; upstream"
  echo "\`crates/proxy/examples/bench_upstream.rs\`, \`/v2/apps\` = 100 apps, ${BYTES:-?}; proxy ="
  echo "\`marathon-admission serve\` release build, \`[admission] enabled = false\`, run twice: with"
  echo "\`[runtime] worker_threads = 1\` and with the default of one worker per core)."
  echo
  echo "- Command: \`DURATION=$DURATION CONNS=$CONNS bench/proxy/run.sh\`"
  echo "- Machine: $(nproc) cores ($CPU), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r); upstream, proxy and wrk share the cores"
  echo "- Commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%Y-%m-%d)"
  echo
  echo "Throughput with $CONNS connections (req/s); latency with 1 connection (µs)."
  echo
  echo "| request | direct req/s | proxy req/s | ratio | direct p50 | proxy p50 | added p50 | direct p99 | proxy p99 | added p99 |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for r in "${ROWS[@]}"; do echo "$r"; done
  echo
} >"$SECTION"
cat "$SECTION"

if [ "$WRITE_DOC" = "1" ]; then
  DOC=docs/BENCHMARKS.md
  mkdir -p docs
  [ -f "$DOC" ] || printf '# Benchmarks\n\nEach section is written by its own script; rerun the script to refresh it.\n\n' >"$DOC"
  awk -v section="$SECTION" '
    BEGIN { while ((getline l < section) > 0) new = new l "\n" }
    /^## Proxy read path[[:space:]]*$/ { printf "%s", new; skip = 1; done = 1; next }
    skip && /^## / { skip = 0 }
    !skip { print }
    END { if (!done) printf "\n%s", new }
  ' "$DOC" >"$TMP/doc" && cat "$TMP/doc" >"$DOC"
  echo "updated $DOC"
fi
