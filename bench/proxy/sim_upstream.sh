#!/usr/bin/env bash
# The Marathon simulator as the benchmark's upstream: `bench/proxy/sim_upstream.sh ADDR` serves
# Marathon 1.3.14's API on ADDR, seeded with a real 100-app production-shaped group from the
# corpus (so GET /v2/apps renders 100 apps per request, as Marathon would).
# Use: UPSTREAM_BIN=bench/proxy/sim_upstream.sh bench/proxy/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
seed="${SEED:-$here/../shared/corpus/marathon/groups/0581-mesosphere-marathon-155_100.json}"
exec "${CARGO_TARGET_DIR:-$here/target}/release/marathon-admission" sim --listen "$1" --state "$seed"
