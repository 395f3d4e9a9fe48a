#!/usr/bin/env bash
# The streaming loader on a Criteo-shaped dataset of the Criteo Kaggle size
# (45,840,617 rows; 40 columns, 160 bytes a row, 7.3 GB), as Parquet row
# groups and as a .npy dataset directory: loader rows/s (shuffled within
# windows, and in order) against pyarrow's reader (peer_pyarrow.py, at 1
# and 2 threads), and the peak RSS of a training epoch (bench_stream.cpp).
# One process per measurement; one JSON line each, then a markdown summary.
#
#   bench/stream/run.sh [BUILD_DIR]        (default: build)
#
# Environment: ROWS (default 45840617), STREAM_DATA (where the data is
# written once and reused, default /tmp/stream_bench; about 15 GB for both
# formats), WINDOW (row groups per shuffle window, default 4), ROW_GROUP
# (rows per Parquet row group and per .npy chunk, default 262144), ONLY
# (loader, train or peer: run only those), RUNS (processes per loader
# measurement, default 3; the summary gives the median and the best), STREAM_OUT (folder for
# stream.jsonl and summary.md, default a new /tmp/stream_bench_out.*).
# The data is read from the page cache (the machine needs its 15 GB free
# for that; the first reads after writing are).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
rows=${ROWS:-45840617}
data=${STREAM_DATA:-/tmp/stream_bench}
window=${WINDOW:-4}
row_group=${ROW_GROUP:-262144}
only=${ONLY:-}
runs=${RUNS:-3}
out=${STREAM_OUT:-$(mktemp -d /tmp/stream_bench_out.XXXXXX)}
python=${PYTHON:-$root/.venv/bin/python}
mkdir -p "$out" "$data"
jsonl=$out/stream.jsonl
: >"$jsonl"

cmake --build "$build" -j2 --target bench_stream recblocks_cli >/dev/null
cli=$build/recblocks
bench=$build/bench/stream/bench_stream

# The data, written once per size: .npy (the synthetic Criteo generator),
# then Parquet from it (8 part files of row groups of ROW_GROUP rows).
stamp="$rows rows, row groups of $row_group"
if [[ "$(cat "$data/stamp" 2>/dev/null)" != "$stamp" ]]; then
  rm -rf "$data/npy" "$data/parquet" "$data/stamp"
  "$cli" data synthetic --shape criteo --rows "$rows" --seed 1 --out "$data/npy" >&2
  "$cli" data convert --input "$data/npy/train" --to parquet --out "$data/parquet" \
    --rows-per-file $(((rows + 7) / 8)) --row-group-size "$row_group" >&2
  echo "$stamp" >"$data/stamp"
fi
npy_chunk_note="(.npy chunks: $row_group rows)"

echo "{\"type\":\"machine\",\"date\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"model\":\"$(lscpu | sed -n 's/^Model name: *//p' | head -1)\",\"cpus\":$(nproc),\"rows\":$rows,\"row_group\":$row_group,\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" | tee -a "$jsonl"

run() { "$@" | tee -a "$jsonl"; }
if [[ -z $only || $only == loader ]]; then
  for format in parquet npy; do
    src=$data/$format
    [[ $format == npy ]] && src=$data/npy/train
    for ((r = 1; r <= runs; r++)); do
      run "$bench" loader --data "$src" --window "$window" --chunk-rows "$row_group"
      run "$bench" loader --data "$src" --no-shuffle --chunk-rows "$row_group"
    done
  done
fi
if [[ -z $only || $only == peer ]]; then
  for threads in 1 2; do
    for ((r = 1; r <= runs; r++)); do
      run "$python" "$here/peer_pyarrow.py" --data "$data/parquet" --window "$window" --threads "$threads"
      run "$python" "$here/peer_pyarrow.py" --data "$data/parquet" --no-shuffle --threads "$threads"
    done
  done
fi
if [[ -z $only || $only == train ]]; then
  run "$bench" train --data "$data/parquet" --window "$window"
  run "$bench" train --data "$data/npy/train" --window "$window" --chunk-rows "$row_group"
fi

echo
python3 - "$jsonl" "$npy_chunk_note" <<'PY' | tee "$out/summary.md"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
machine = next(l for l in lines if l.get("type") == "machine")
print(f"{machine['model']}, {machine['cpus']} CPUs, {machine['rows']:,} rows {sys.argv[2]}\n")
loaders = [l for l in lines if l.get("mode") == "loader"]
def key(l):
    who = f"pyarrow {l['threads']} threads" if l["storage"] == "pyarrow" else f"recblocks {l['storage']} {l['format']}"
    return (who, l["shuffle"])
groups = {}
for l in loaders:
    groups.setdefault(key(l), []).append(l)
def median(values):
    values = sorted(values)
    return values[len(values) // 2]
def best_peer(shuffle):
    peers = [median([l["rows_per_s"] for l in g]) for (who, s), g in groups.items()
             if who.startswith("pyarrow") and s == shuffle]
    return max(peers) if peers else None
print("| loader | order | rows/s median (best) | CPU s median | peak RSS MiB | vs pyarrow's best setting |")
print("| --- | --- | --- | --- | --- | --- |")
for (who, shuffle), g in groups.items():
    rate = median([l["rows_per_s"] for l in g])
    order = f"shuffled, window {g[0]['window']}" if shuffle else "in order"
    peer = best_peer(shuffle)
    ratio = f"{rate / peer:.2f}x" if peer and not who.startswith("pyarrow") else ""
    print(f"| {who} | {order} | {rate / 1e6:.1f} M ({max(l['rows_per_s'] for l in g) / 1e6:.1f} M) "
          f"| {median([l['cpu_s'] for l in g])} | {max(l['peak_rss_mib'] for l in g)} | {ratio} |")
trains = [l for l in lines if l.get("mode") == "train"]
if trains:
    print("\n| training epoch | rows/s | seconds | peak RSS MiB | model MiB | RSS less model MiB |")
    print("| --- | --- | --- | --- | --- | --- |")
    for l in trains:
        print(f"| DLRM, {l['format']} streamed, window {l['window']} | {l['rows_per_s']:,} | {l['seconds']} "
              f"| {l['peak_rss_mib']} | {l['model_mib']} | {l['rss_less_model_mib']} |")
PY
echo "raw results: $jsonl, summary: $out/summary.md" >&2
