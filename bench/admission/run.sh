#!/usr/bin/env bash
# Admission decisions through the proxy against the simulator (1.3.14, legacy layout):
# heroku_root(2000, 10) (92% of the plan limit) and heroku_root(10000, 1); warm path and the exact
# path (baseline) in the same run; full sync of the model; resident memory of the proxy process.
# Figures go to docs/BENCHMARKS.md ("## Admission decisions").
# Usage: bench/admission/run.sh [--apps 2000|10000] [--ledger zookeeper] [--sim-nice 10]  (--ledger
# adds a proxy whose ledger is shared through a ZooKeeper on loopback: its cost against the local
# one; --sim-nice: the simulator's threads at that nice value, as for the burst below; --zk-cpu N:
# ZooKeeper on CPU N alone, everything else on the other CPUs)
#        bench/admission/run.sh --scenario dry-run-load  (real writes beside heavy dry runs)
#        bench/admission/run.sh --scenario replicas --ledger zookeeper  (3 replicas, one ledger)
#        bench/admission/run.sh --scenario burst [--apps 2000|10000] [--clients 8] [--writes 240]
#          [--sim-nice 10]  (a release train: concurrent clients' real writes, warm against exact,
#          same seed; --sim-nice runs the simulator's threads at that nice value, as a Marathon on
#          machines of its own does not compete with the proxy for its cores)
#        bench/admission/run.sh --apps 50000 --layout v1.4 [--limit 4000000]  (the simulator as
#          Marathon 1.4.13, deep_root(50000, 1), about 3x the default limit at rest; --limit raises
#          the node size limits; also with --scenario burst)
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
# --ledger zookeeper runs a ZooKeeper on loopback: Debian's package (jars in /usr/share/java).
if [[ " $* " == *" zookeeper "* ]] && ! dpkg -s zookeeper >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q zookeeper default-jre-headless
fi
cargo build --release -q --locked -p marathon-admission
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load: $(cut -d' ' -f1-3 /proc/loadavg)"
# The bench runs from its crate's directory: hand it an absolute path, whatever CARGO_TARGET_DIR is.
BIN="$(cd "$CARGO_TARGET_DIR" && pwd)/release/marathon-admission"
cargo bench -q --locked -p admission-runtime --bench admission -- --binary "$BIN" "$@"
