#!/usr/bin/env bash
# Load on the Marathon simulator (in-process, loopback). Figures go to docs/BENCHMARKS.md
# ("## Simulator"). Usage: bench/sim/run.sh [SECONDS] [mixed|writes]
#   mixed  (default): seeded roots of 2,000 and 10,000 apps, 8 concurrent closed-loop clients,
#          read-only and mixed read/write.
#   writes: writes only, one client, on heroku_root(2000, 10) and heroku_root(10000, 1), both
#          layouts (1.3.14 legacy, 1.4+), without an event stream and with the admission proxy's.
# SIM_BENCH=/path/to/sim_bench runs that binary instead of building one (a build of another
# commit, for a before/after comparison in the same session).
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_RUN="${1:-10}"
MODE="${2:-mixed}"
if [ -z "${SIM_BENCH:-}" ]; then
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
  cargo build --release -q -p marathon-sim --example sim_bench
  SIM_BENCH="$CARGO_TARGET_DIR/release/examples/sim_bench"
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load: $(cut -d' ' -f1-3 /proc/loadavg)"
run() { "$SIM_BENCH" --seconds "$SECONDS_PER_RUN" "$@"; echo; }
case "$MODE" in
  mixed)
    run --clients 8 --apps 10000 --writes 0    --marathon-version 1.4+
    run --clients 8 --apps 10000 --writes 0.02 --marathon-version 1.4+
    run --clients 8 --apps 10000 --writes 0.1  --marathon-version 1.4+
    run --clients 8 --apps 10000 --writes 0.02 --marathon-version 1.3.14
    run --clients 8 --apps 2000  --writes 0.1  --marathon-version 1.3.14
    ;;
  writes)
    for version in 1.3.14 1.4+; do
      for seed in "2000 10" "10000 1"; do
        set -- $seed
        run --clients 1 --writes 1 --apps "$1" --heroku "$2" --marathon-version "$version"
        run --clients 1 --writes 1 --apps "$1" --heroku "$2" --marathon-version "$version" --events proxy
      done
    done
    ;;
  *) echo "usage: $0 [SECONDS] [mixed|writes]" >&2; exit 2 ;;
esac
