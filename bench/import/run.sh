#!/usr/bin/env bash
# Builds and runs the import benchmark; prints its JSON line.
#
#   bench/import/run.sh [BUILD_DIR]     (default: build)
#
# Environment: RUNS (default 5), ROWS (default 1000000), RECBLOCKS_SHARED_DATA
# (default ../shared/data beside the source tree), RECBLOCKS_NUM_THREADS.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
if [[ ! -f $build/build.ninja && ! -f $build/Makefile ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRECBLOCKS_BUILD_BENCH=ON >/dev/null
fi
cmake --build "$build" --target import_bench -j "${JOBS:-2}" >/dev/null
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
exec "$build/bench/import/import_bench" --runs "${RUNS:-5}" --rows "${ROWS:-1000000}"
