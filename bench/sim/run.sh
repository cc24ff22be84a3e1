#!/usr/bin/env bash
# Load on the Marathon simulator (in-process, loopback): seeded roots of 2,000 and 10,000 apps,
# 8 concurrent closed-loop clients, read-only and mixed read/write. Figures go to
# docs/BENCHMARKS.md ("## Simulator"). Usage: bench/sim/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_RUN="${1:-10}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p marathon-sim --example sim_bench
B="$CARGO_TARGET_DIR/release/examples/sim_bench"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
run() { "$B" --clients 8 --seconds "$SECONDS_PER_RUN" "$@"; echo; }
run --apps 10000 --writes 0    --marathon-version 1.4+
run --apps 10000 --writes 0.02 --marathon-version 1.4+
run --apps 10000 --writes 0.1  --marathon-version 1.4+
run --apps 10000 --writes 0.02 --marathon-version 1.3.14
run --apps 2000  --writes 0.1  --marathon-version 1.3.14
