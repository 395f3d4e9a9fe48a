#!/usr/bin/env bash
# Builds bench_loader (Release) and runs it RUNS times: rows/s that
# rb::Loader delivers for the seed's columns (see bench_loader.cpp), one
# JSON line per measurement, then a markdown summary over the runs.
#
#   bench/loader/run.sh [BUILD_DIR]        (default: build)
#
# Environment: RUNS (processes, default 3), EPOCHS (timed epochs per
# measurement and process, default 7), ROWS (default 1000000), ONLY (run
# the measurements whose label contains it), LOADER_OUT (folder for
# loader.jsonl and summary.md, default a new /tmp/loader_bench.*).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
runs=${RUNS:-3}
out=${LOADER_OUT:-$(mktemp -d /tmp/loader_bench.XXXXXX)}
mkdir -p "$out"
jsonl=$out/loader.jsonl
: >"$jsonl"

if [[ -f $build/CMakeCache.txt ]]; then
  cmake -B "$build" -DRECBLOCKS_BUILD_BENCH=ON >/dev/null
  grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$build/CMakeCache.txt" ||
    echo "warning: $build is not a Release build; the figures will not be representative" >&2
else
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRECBLOCKS_BUILD_BENCH=ON >/dev/null
fi
cmake --build "$build" -j2 --target bench_loader

echo "{\"type\":\"machine\",\"date\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"model\":\"$(lscpu | sed -n 's/^Model name: *//p' | head -1)\",\"cpus\":$(nproc),\"compiler\":\"$(c++ --version | head -1)\",\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" | tee -a "$jsonl"
for ((r = 1; r <= runs; r++)); do
  OMP_WAIT_POLICY=passive "$build/bench/loader/bench_loader" --rows "${ROWS:-1000000}" \
    --epochs "${EPOCHS:-7}" --only "${ONLY:-}" | tee -a "$jsonl"
done

echo
python3 - "$jsonl" <<'PY' | tee "$out/summary.md"
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if '"bench":"loader"' in line]
labels = list(dict.fromkeys(r["label"] for r in rows))
print("| measurement | threads | rows/s median | rows/s best | rows per CPU-s median | rows per CPU-s best |")
print("| --- | --- | --- | --- | --- | --- |")
for label in labels:
    runs = [r for r in rows if r["label"] == label]
    epochs = [e for r in runs for e in r["epoch_rows_per_s"]]
    cpu = [r["rows_per_cpu_s"] for r in runs]
    print(f"| {label} | {runs[0]['threads']} | {statistics.median(epochs) / 1e6:.1f} M "
          f"| {max(epochs) / 1e6:.1f} M | {statistics.median(cpu) / 1e6:.1f} M "
          f"| {max(r['best_rows_per_cpu_s'] for r in runs) / 1e6:.1f} M |")
PY
echo "raw results: $jsonl, summary: $out/summary.md" >&2
