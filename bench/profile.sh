#!/usr/bin/env bash
# bench/profile.sh: profiles one contender's round-trip window with the V8 CPU profiler (as `node --cpu-prof`) and prints the top self-time functions.
# Usage: bench/profile.sh [pkg|pkg-secured|sdk|ceiling] [seconds]   (defaults: pkg, 10)
# Env: BENCH_NO_BUILD=1 skips `npm run build`; BENCH_PROF_TOP (30), BENCH_PROF_INTERVAL_US (250),
#      BENCH_RT_SESSIONS / BENCH_RT_INFLIGHT as for the bench. The profile is kept in bench/.tmp/<contender>.cpuprofile.
set -euo pipefail
cd "$(dirname "$0")/.."
contender="${1:-pkg}"
seconds="${2:-10}"
if [[ "$contender" == pkg* && "${BENCH_NO_BUILD:-}" != "1" ]]; then
  npm run build >/dev/null
fi
BENCH_PROFILE="$contender" BENCH_RT_SECONDS="$seconds" exec node bench/run.js
