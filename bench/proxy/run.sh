#!/usr/bin/env bash
# Proxy read-path benchmark: GET /ping and GET /v2/apps (a 100-app state), directly against an
# upstream and through `marathon-admission serve`, in one run, with wrk. Records the throughput
# ratio and the added p50/p99 latency in docs/BENCHMARKS.md, section "## Proxy read path".
#
# Per path, two measurements:
#   - throughput: CONNS concurrent connections (default 16) for DURATION seconds; ratio = proxy/direct.
#   - latency: one connection (one request at a time) for DURATION seconds; added p50/p99 = the
#     proxy's percentile minus the direct one (service time, not queueing behind a busy CPU).
# And three setups (admission off: this is the transparent path):
#   - "shared, 1 worker" / "shared, 1 worker per core": wrk, upstream and proxy float over all
#     cores; the proxy with `[runtime] worker_threads = 1` and with the default.
#   - "pinned" (needs >= 2 cores and taskset): wrk and upstream on core 0, the proxy (1 worker) on
#     core 1, direct and proxied alike: the upstream gets the same CPU in both runs, as it would
#     with Marathon on its own host.
# The upstream is crates/proxy/examples/bench_upstream.rs for now (later the simulator: set
# UPSTREAM_BIN to a command taking the listen address as its only argument).
# Reference proxies (REFERENCE=1, the default): HAProxy and nginx (Debian packages, installed by
# the script when missing; rows skipped if they cannot be), one thread/process each, keep-alive to
# the upstream, measured in the same run and placements: what a mature proxy achieves on this
# machine is the baseline the proxy's own ratio is read against.
#
# Throughput is the median of ROUNDS interleaved rounds (see `tput` below).
#
# Usage: bench/proxy/run.sh            (env: DURATION=10 ROUNDS=3 CONNS=16 WRITE_DOC=1 REFERENCE=1)
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-16}
WRITE_DOC=${WRITE_DOC:-1}
REFERENCE=${REFERENCE:-1}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}

if ! command -v wrk >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y -q wrk >/dev/null || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q wrk >/dev/null; }
fi

if [ "$REFERENCE" = 1 ] && ! { command -v haproxy && command -v nginx; } >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y -q haproxy nginx-light >/dev/null 2>&1 \
    || { $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q haproxy nginx-light >/dev/null 2>&1; } \
    || echo "haproxy/nginx not installable: reference rows skipped" >&2
  # Debian may start the packaged services: they are left alone (a host's own service never
  # is stopped by a benchmark); the benchmark's instances listen on their own loopback ports
  # and only the processes this script started (PIDS) are ended.
fi
HAPROXY=$(PATH=$PATH:/usr/sbin command -v haproxy || true)
NGINX=$(PATH=$PATH:/usr/sbin command -v nginx || true)
[ "$REFERENCE" = 1 ] || { HAPROXY=""; NGINX=""; }

cargo build -q --release -p proxy --example bench_upstream
cargo build -q --release --bin marathon-admission
BIN="$CARGO_TARGET_DIR/release/marathon-admission"
UPSTREAM_SET=${UPSTREAM_BIN:+1}
UPSTREAM_BIN=${UPSTREAM_BIN:-"$CARGO_TARGET_DIR/release/examples/bench_upstream"}

PIN=0
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then PIN=1; fi
on_core() { # core cmd... (no pinning when PIN=0)
  local core=$1; shift
  if [ "$PIN" = 1 ]; then taskset -c "$core" "$@"; else "$@"; fi
}

TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

UP=127.0.0.1:18080        # upstream, floating
UPP=127.0.0.1:18090       # upstream, pinned to core 0
PX=127.0.0.1:18081        # proxy, default workers, floating
PX1=127.0.0.1:18082       # proxy, 1 worker, floating
PXP=127.0.0.1:18083       # proxy, 1 worker, pinned to core 1 (-> UPP)

# The ports must be free: otherwise the figures would be another program's (and the script must
# not touch that program).
for port in 18080 18081 18082 18083 18084 18085 18086 18087 18090 19102 19103 19104; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "127.0.0.1:$port is in use by another program: free it or run elsewhere" >&2; exit 1
  fi
done

$UPSTREAM_BIN "$UP" >"$TMP/upstream.log" 2>&1 &
PIDS+=($!)
if [ "$PIN" = 1 ]; then
  taskset -c 0 $UPSTREAM_BIN "$UPP" >"$TMP/upstream-pinned.log" 2>&1 &
  PIDS+=($!)
fi

start_proxy() { # name listen admin workers upstream core|-
  printf '[runtime]\nworker_threads = %s\n\n[admission]\nenabled = false\n' "$4" >"$TMP/$1.toml"
  local pin=()
  [ "$6" != "-" ] && pin=(taskset -c "$6")
  MARATHON_ADMISSION_LOG=warn "${pin[@]}" "$BIN" serve --config "$TMP/$1.toml" --listen "$2" \
    --admin-listen "$3" --marathon "http://$5" >"$TMP/$1.log" 2>&1 &
  PIDS+=($!)
}
# Reference proxies: one thread (HAProxy) / one process (nginx), keep-alive to the upstream.
HA=127.0.0.1:18084        # haproxy, floating
HAP=127.0.0.1:18085       # haproxy, pinned to core 1 (-> UPP)
NG=127.0.0.1:18086        # nginx, floating
NGP=127.0.0.1:18087       # nginx, pinned to core 1 (-> UPP)
start_haproxy() { # name listen upstream core|-
  printf 'global\n  nbthread 1\n  maxconn 4096\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n  option http-keep-alive\nfrontend f\n  bind %s\n  default_backend b\nbackend b\n  http-reuse always\n  server s1 %s\n' "$2" "$3" >"$TMP/$1.cfg"
  local pin=(); [ "$4" != "-" ] && pin=(taskset -c "$4")
  "${pin[@]}" "$HAPROXY" -db -f "$TMP/$1.cfg" >"$TMP/$1.log" 2>&1 &
  PIDS+=($!)
}
start_nginx() { # name listen upstream core|-
  mkdir -p "$TMP/$1"
  cat >"$TMP/$1/nginx.conf" <<NGX
worker_processes 1;
daemon off;
master_process off;
pid $TMP/$1/nginx.pid;
error_log $TMP/$1/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $TMP/$1/body; proxy_temp_path $TMP/$1/proxy;
  fastcgi_temp_path $TMP/$1/fcgi; uwsgi_temp_path $TMP/$1/uwsgi; scgi_temp_path $TMP/$1/scgi;
  upstream up { server $3; keepalive 64; }
  server {
    listen $2;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGX
  local pin=(); [ "$4" != "-" ] && pin=(taskset -c "$4")
  "${pin[@]}" "$NGINX" -p "$TMP/$1" -c "$TMP/$1/nginx.conf" >"$TMP/$1.log" 2>&1 &
  PIDS+=($!)
}
if [ -n "$HAPROXY" ]; then
  start_haproxy ha "$HA" "$UP" -
  [ "$PIN" = 1 ] && start_haproxy hap "$HAP" "$UPP" 1
fi
if [ -n "$NGINX" ]; then
  start_nginx ng "$NG" "$UP" -
  [ "$PIN" = 1 ] && start_nginx ngp "$NGP" "$UPP" 1
fi

start_proxy px "$PX" 127.0.0.1:19102 0 "$UP" -
start_proxy px1 "$PX1" 127.0.0.1:19103 1 "$UP" -
[ "$PIN" = 1 ] && start_proxy pxp "$PXP" 127.0.0.1:19104 1 "$UPP" 1

http_status() { # host port path -> status code of GET, or empty
  local line
  exec 3<>"/dev/tcp/$1/$2" 2>/dev/null || return 0
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$3" "$1" >&3
  read -r line <&3 || true
  exec 3>&- 3<&-
  echo "$line" | awk '{print $2}'
}
wait_ready() { # admin port
  for _ in $(seq 1 100); do
    [ "$(http_status 127.0.0.1 "$1" /readyz 2>/dev/null)" = "200" ] && return 0
    sleep 0.1
  done
  echo "proxy with admin port $1 not ready"; cat "$TMP"/*.log; exit 1
}
wait_ready 19102; wait_ready 19103
[ "$PIN" = 1 ] && wait_ready 19104
wait_answering() { # host:port -> waits until GET /ping answers 200 (else the rows are skipped)
  for _ in $(seq 1 50); do
    [ "$(http_status "${1%:*}" "${1#*:}" /ping 2>/dev/null)" = "200" ] && return 0
    sleep 0.1
  done
  echo "$1 not answering: its rows are skipped" >&2; return 1
}
REFS=()      # "label floating-addr pinned-addr"
[ -n "$HAPROXY" ] && wait_answering "$HA" && { [ "$PIN" = 0 ] || wait_answering "$HAP"; } && REFS+=("HAProxy $HA $HAP")
[ -n "$NGINX" ] && wait_answering "$NG" && { [ "$PIN" = 0 ] || wait_answering "$NGP"; } && REFS+=("nginx $NG $NGP")

to_us() { # "123.45us" | "1.23ms" | "1.00s" -> microseconds
  awk -v v="$1" 'BEGIN{n=v+0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n*1000; else if (v ~ /s$/) print n*1000000; else print n}'
}
run_wrk() { # core|- url conns -> "rps p50us p99us"
  local out
  if [ "$1" = "-" ]; then out=$(wrk -t1 -c"$3" -d"${DURATION}s" --latency "$2")
  else out=$(taskset -c "$1" wrk -t1 -c"$3" -d"${DURATION}s" --latency "$2"); fi
  if echo "$out" | grep -q -E "Non-2xx|Socket errors"; then echo "$out" >&2; echo "errors during $2" >&2; exit 1; fi
  local rps p50 p99
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(to_us "$(echo "$out" | awk '$1=="50%" {print $2}')")
  p99=$(to_us "$(echo "$out" | awk '$1=="99%" {print $2}')")
  echo "$rps $p50 $p99"
}
row() { # label direct_rps proxy_rps d50 p50 d99 p99
  awk -v l="$1" -v dr="$2" -v pr="$3" -v d50="$4" -v p50="$5" -v d99="$6" -v p99="$7" 'BEGIN{
    printf "| %s | %.0f | %.0f | %.2f | %.0f | %.0f | %+.0f | %.0f | %.0f | %+.0f |", l, dr, pr, pr/dr, d50, p50, p50-d50, d99, p99, p99-d99 }'
}

# Throughput: ROUNDS interleaved rounds (each target once per round, in turn), median per target:
# on a shared 2-core VM the cost of waking a process on the other core moves from minute to minute,
# and interleaving spreads that over every target alike. Latency: one run per target.
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
tput() { # core|- path addr... -> median req/s of each addr, in order
  local core=$1 path=$2; shift 2
  local -A got=()
  for _ in $(seq 1 "$ROUNDS"); do
    for a in "$@"; do
      read -r r _ _ <<<"$(run_wrk "$core" "http://$a$path" "$CONNS")"
      got[$a]="${got[$a]:-} $r"
    done
  done
  for a in "$@"; do echo "${got[$a]}" | median; done
}
ROWS=()
REF_ROWS=()
for path in /ping /v2/apps; do
  refs_float=(); refs_pinned=(); ref_names=()
  for ref in "${REFS[@]}"; do
    read -r name f p <<<"$ref"
    ref_names+=("$name"); refs_float+=("$f"); refs_pinned+=("$p")
  done
  for a in "$UP" "$PX" "$PX1" "${refs_float[@]}"; do wrk -t1 -c4 -d2s "http://$a$path" >/dev/null; done  # warm-up
  mapfile -t r < <(tput - "$path" "$UP" "$PX" "$PX1" "${refs_float[@]}")
  d_rps=${r[0]}; p_rps=${r[1]}; p1_rps=${r[2]}
  read -r _ d50 d99 <<<"$(run_wrk - "http://$UP$path" 1)"
  read -r _ p50 p99 <<<"$(run_wrk - "http://$PX$path" 1)"
  read -r _ p150 p199 <<<"$(run_wrk - "http://$PX1$path" 1)"
  ROWS+=("$(row "\`GET $path\`, shared, 1 worker" "$d_rps" "$p1_rps" "$d50" "$p150" "$d99" "$p199")")
  echo "${ROWS[-1]}"
  ROWS+=("$(row "\`GET $path\`, shared, 1 worker per core" "$d_rps" "$p_rps" "$d50" "$p50" "$d99" "$p99")")
  echo "${ROWS[-1]}"
  for i in "${!ref_names[@]}"; do
    read -r _ r50 r99 <<<"$(run_wrk - "http://${refs_float[$i]}$path" 1)"
    REF_ROWS+=("$(row "\`GET $path\`, shared, ${ref_names[$i]} (reference)" "$d_rps" "${r[$((3 + i))]}" "$d50" "$r50" "$d99" "$r99")")
    echo "${REF_ROWS[-1]}"
  done
  if [ "$PIN" = 1 ]; then
    for a in "$UPP" "$PXP" "${refs_pinned[@]}"; do taskset -c 0 wrk -t1 -c4 -d2s "http://$a$path" >/dev/null; done
    mapfile -t r < <(tput 0 "$path" "$UPP" "$PXP" "${refs_pinned[@]}")
    dp_rps=${r[0]}; pp_rps=${r[1]}
    read -r _ dp50 dp99 <<<"$(run_wrk 0 "http://$UPP$path" 1)"
    read -r _ pp50 pp99 <<<"$(run_wrk 0 "http://$PXP$path" 1)"
    ROWS+=("$(row "\`GET $path\`, pinned (proxy on its own core)" "$dp_rps" "$pp_rps" "$dp50" "$pp50" "$dp99" "$pp99")")
    echo "${ROWS[-1]}"
    for i in "${!ref_names[@]}"; do
      read -r _ r50 r99 <<<"$(run_wrk 0 "http://${refs_pinned[$i]}$path" 1)"
      REF_ROWS+=("$(row "\`GET $path\`, pinned, ${ref_names[$i]} (reference)" "$dp_rps" "${r[$((2 + i))]}" "$dp50" "$r50" "$dp99" "$r99")")
      echo "${REF_ROWS[-1]}"
    done
  fi
done

# CPU time per request of each process (wrk, upstream, proxy) for GET /ping, pinned as above:
# what decides the ratio when they share the cores (see bench/proxy/cpu_per_request.sh).
CPU_LINES=""
if [ "$PIN" = 1 ]; then
  CPU_LINES=$(DURATION=$DURATION CONNS=$CONNS PATH_=/ping UPSTREAM_BIN="$UPSTREAM_BIN" PROXY_BIN="$BIN" \
    bench/proxy/cpu_per_request.sh | grep -E '^(direct|proxied) ')
  echo "$CPU_LINES"
fi

BYTES=$(grep -o '[0-9]* bytes' "$TMP/upstream.log" | head -1 || true)
CPU=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
# Reads table rows; prints "Against the references ...": the proxy's req/s over each reference's,
# per path and placement (the shared placement compared with the proxy's 1-worker row).
against_references() {
  awk -F'|' '
    { label = $2; gsub(/^ +| +$/, "", label); rps = $4 + 0
      split(label, a, ", "); split(a[2], w, " "); key = a[1] " " w[1]
      if (label ~ /\(reference\)$/) { name = a[3]; sub(/ \(reference\)$/, "", name); nref++; rkey[nref] = key; rname[nref] = name; rrps[nref] = rps }
      else if (w[1] == "pinned" || a[3] == "1 worker") { proxy[key] = rps }
    }
    END {
      out = ""
      for (i = 1; i <= nref; i++) {
        if (!(rkey[i] in proxy) || rrps[i] == 0) continue
        out = out (out == "" ? "" : "; ") sprintf("%s %.2fx %s", rkey[i], proxy[rkey[i]] / rrps[i], rname[i])
      }
      if (out != "") printf "Against the references (the proxy'"'"'s req/s over the reference'"'"'s, same run and placement): %s.\n", out
    }'
}

SECTION="$TMP/section.md"
{
  echo "## Proxy read path"
  echo
  echo "Reads pass through untouched; the target is at least 0.8x the direct throughput and under"
  echo "1 ms added at p99. Measured by \`bench/proxy/run.sh\` (wrk, one thread; upstream"
  echo "\`${UPSTREAM_BIN#$CARGO_TARGET_DIR/}\`, \`/v2/apps\` = 100 apps${BYTES:+, $BYTES}; proxy ="
  echo "\`marathon-admission serve\` release build with \`[admission] enabled = false\`)."
  echo "\"shared\": wrk, upstream and proxy float over the cores (the proxy with 1 worker thread, or"
  echo "with tokio's default of one per core). \"pinned\": wrk and upstream on core 0, the proxy"
  echo "(1 worker) on core 1, for the direct and the proxied runs alike."
  echo
  echo "- Command: \`DURATION=$DURATION ROUNDS=$ROUNDS CONNS=$CONNS${UPSTREAM_SET:+ UPSTREAM_BIN=$UPSTREAM_BIN} bench/proxy/run.sh\`"
  echo "- Machine: $(nproc) cores ($CPU), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r); load average at the end of the run: $LOAD"
  echo "- Commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%Y-%m-%d)"
  echo
  echo "Throughput with $CONNS connections (req/s, median of $ROUNDS interleaved rounds of ${DURATION} s); latency with 1"
  echo "connection (µs, one run of ${DURATION} s)."
  echo
  echo "| request, setup | direct req/s | proxy req/s | ratio | direct p50 | proxy p50 | added p50 | direct p99 | proxy p99 | added p99 |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for r in "${ROWS[@]}" "${REF_ROWS[@]}"; do echo "$r"; done
  echo
  printf '%s\n' "${ROWS[@]}" | awk -F'|' '
    { n++; gsub(/ /, "", $5); gsub(/[ +]/, "", $11); if ($5 + 0 >= 0.8) t++; if ($11 + 0 < 1000) l++ }
    END { printf "Targets: throughput >= 0.8x direct in %d of %d rows; under 1 ms added at p99 in %d of %d rows (the proxy'"'"'s rows; the reference rows are the baseline).\n", t, n, l, n }'
  echo
  if [ "${#REF_ROWS[@]}" -gt 0 ]; then
    echo "The reference rows are HAProxy and nginx ($(
      { "$HAPROXY" -v 2>/dev/null | head -1 | awk '{printf "HAProxy %s", $3}'; } ; printf ', '
      { "$NGINX" -v 2>&1 | sed 's|.*nginx/|nginx |'; } ), one thread/process each, in front of the same"
    echo "upstream in the same placements: the ratio a mature proxy gets on this machine, against which the"
    echo "proxy's own ratio is read. With wrk, upstream and proxy sharing the 2 cores, no proxy reaches 0.8x"
    echo "on \`/ping\` (its four socket calls cost more than the upstream's whole answer)."
    echo
    # The proxy against each reference, same path and placement: unlike the ratio to direct, this
    # moves little when the host gets slower at waking a process on the other vCPU.
    printf '%s\n' "${ROWS[@]}" "${REF_ROWS[@]}" | against_references
    echo
  fi
  echo "Reading the figures: with one connection the direct p50 is the upstream's service time, so the"
  echo "added p50 is the proxy's own cost per request (two more socket round trips). The p99 of a"
  echo "one-connection run is the scheduler's: whenever anything else runs on the 2 cores (here the"
  echo "other process of the pair, wrk, and any concurrent build; see the load average) a request waits"
  echo "for a time slice, in the direct runs too."
  echo
  if [ -n "$CPU_LINES" ]; then
    echo "CPU time per request (\`bench/proxy/cpu_per_request.sh\`, same placement as \"pinned\", $CONNS"
    echo "connections, \`GET /ping\`; µs of CPU per request served, user + system, from /proc):"
    echo
    echo "| run | req/s | wrk | upstream | proxy | of which proxy user space |"
    echo "|---|---:|---:|---:|---:|---:|"
    echo "$CPU_LINES" | awk '{ printf "| %s | %s | %s | %s | %s | %s |\n", $1, $4, $11, $13, $15, $17 + 0 }'
    echo
    echo "$CPU_LINES" | awk '
      $1 == "direct" { dw = $11; du = $13 }
      $1 == "proxied" { pw = $11; pu = $13; pp = $15 }
      END {
        printf "What that allows: with both runs using both cores fully, the ratio is about the direct CPU per\n"
        printf "request over the proxied one, (%.1f + %.1f) / (%.1f + %.1f + %.1f) = %.2fx. Pinned, the proxy core alone allows\n", dw, du, pw, pu, pp, (dw + du) / (pw + pu + pp)
        printf "%.0f req/s (1 / %.1f µs) and core 0 %.0f req/s (1 / (%.1f + %.1f) µs), against %.0f direct\n", 1e6 / pp, pp, 1e6 / (pw + pu), pw, pu, 1e6 / (dw + du)
        printf "(1 / (%.1f + %.1f) µs): at most %.2fx. The proxy does twice the socket work of the upstream\n", dw, du, (1e6 / (pp > pw + pu ? pp : pw + pu)) / (1e6 / (dw + du))
        printf "(reads the request, writes it to Marathon, reads the answer, writes it back), and every message\n"
        printf "now crosses cores, which also makes wrk and the upstream pay more per request than when they\n"
        printf "take turns on one core.\n"
      }'
    echo
  fi
  echo "Against a Marathon that spends milliseconds per request (\`GET /v2/apps\` above) the same fixed"
  echo "cost is a small fraction."
  echo
} >"$SECTION"
cat "$SECTION"

if [ "$WRITE_DOC" = "1" ]; then
  DOC=docs/BENCHMARKS.md
  mkdir -p docs
  [ -f "$DOC" ] || printf '# Benchmarks\n\nEach section is written by its own script; rerun the script to refresh it.\n\n' >"$DOC"
  # The new run replaces the section's text and table; the previous run's figures (from its
  # "- Command:" line to its "Targets:" line) move to the top of "### Earlier runs", and the
  # section's other "###" subsections (written by hand) are kept as they were.
  awk -v section="$SECTION" '
    BEGIN { while ((getline l < section) > 0) new = new l "\n" }
    function flush_old() {
      printf "%s", new
      printf "%s", kept
      printf "### Earlier runs\n\n"
      if (prev != "") printf "%s\n", prev
      printf "%s", history
    }
    /^## Proxy read path[[:space:]]*$/ { in_sec = 1; done = 1; next }
    in_sec && /^## / { flush_old(); in_sec = 0 }
    in_sec {
      if ($0 ~ /^### /) { sub_name = $0; if (sub_name ~ /^### Earlier runs/) { in_hist = 1; next } else in_hist = 0 }
      if (in_hist) { if (history != "" || $0 != "") history = history $0 "\n"; next }
      if (sub_name != "") { kept = kept $0 "\n"; next }
      if ($0 ~ /^- Command:/) in_prev = 1
      if (in_prev) prev = prev $0 "\n"
      if ($0 ~ /^Targets:/) in_prev = 0
      next
    }
    { print }
    END { if (in_sec) flush_old(); if (!done) printf "\n%s", new }
  ' "$DOC" >"$TMP/doc" && cat "$TMP/doc" >"$DOC"
  echo "updated $DOC"
fi
