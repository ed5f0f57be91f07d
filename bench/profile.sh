#!/usr/bin/env bash
# bench/profile.sh: profiles one contender's round-trip window with the V8 CPU profiler (as `node --cpu-prof`) and prints the top self-time functions.
# Usage: bench/profile.sh [contender] [seconds]   (defaults: pkg, 10). Any contender of bench/contenders.js: the HTTP+SSE
# ones (pkg, pkg-secured, sdk, ceiling) run the SSE round trip, the Streamable HTTP ones (pkg-streamable,
# pkg-streamable-secured, sdk1-streamable, sdk2-streamable) the Streamable HTTP one.
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
