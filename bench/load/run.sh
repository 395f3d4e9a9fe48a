#!/usr/bin/env bash
# Training under load: the seed DLRM (batch 1024, Adam) on a quiet machine
# and with one other process keeping a core busy (a shell loop, started
# here), recblocks at its default thread setting against its own
# alternatives and PyTorch at each of its thread settings, in the same run.
#
#   bench/load/run.sh [BUILD_DIR]           (default: build)
#
# recblocks settings: "default" (all cores, the pool's brief spin and its
# fallback to one thread under load), "1 thread" (--threads 1), "passive"
# (all cores, RECBLOCKS_SPIN_US=0 RECBLOCKS_ADAPT_THREADS=0: sleep at once,
# never fall back; what OMP_WAIT_POLICY=passive did), "spin, no fallback"
# (RECBLOCKS_ADAPT_THREADS=0). PyTorch: OMP_NUM_THREADS 1 and all cores
# (OpenBLAS 1), --max-steps 300. Each recblocks setting runs REPEAT times
# (default 3), alternating; the summary gives medians of training samples/s
# and the ratios the targets are about: default / best of {1 thread,
# passive} and default / PyTorch's best, quiet and loaded.
#
# Environment: REPEAT, LOAD_OUT (default a new /tmp/load_bench.*),
# SEED_RATINGS (default 1000209), PYTHON (default .venv/bin/python3).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
out=${LOAD_OUT:-$(mktemp -d /tmp/load_bench.XXXXXX)}
repeat=${REPEAT:-3}
python=${PYTHON:-$root/.venv/bin/python3}
cores=$(nproc)
mkdir -p "$out"
jsonl=$out/load.jsonl
: >"$jsonl"

cmake --build "$build" -j2 --target train_bench recblocks_cli >/dev/null
rb=$build/recblocks
if [[ ! -d $out/ml/ml-1m/train ]]; then
  "$rb" data synthetic --shape movielens-1m --rows "${SEED_RATINGS:-1000209}" --out "$out/ml-raw" >/dev/null
  "$rb" data movielens --variant ml-1m --source "$out/ml-raw" --out "$out/ml" --no-download >/dev/null
fi
data=$out/ml/ml-1m

echo "{\"type\":\"machine\",\"date\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"model\":\"$(lscpu | sed -n 's/^Model name: *//p' | head -1)\",\"cpus\":$cores}" | tee -a "$jsonl"

recblocks() {  # load setting [env...]
  local load=$1 setting=$2 threads=$cores
  shift 2
  [[ $setting == "1 thread" ]] && threads=1
  env "$@" "$build/bench/train/train_bench" --model seed --data "$data" --batch-size 1024 \
    --epochs 1 --threads "$threads" --optimizer adam --eval-repeat 1 |
    "$python" -c 'import json, sys; d = json.load(sys.stdin); print(json.dumps({"load": sys.argv[1], "impl": "recblocks", "setting": sys.argv[2], "train_samples_per_s": d["train_samples_per_s"]}))' "$load" "$setting" |
    tee -a "$jsonl"
}
torch() {  # load omp
  "$python" "$root/bench/torch_ref/train.py" --model seed --data "$data/train" --batch-size 1024 \
    --epochs 1 --max-steps 300 --threads-omp "$2" --threads-blas 1 --optimizer adam --json |
    "$python" -c 'import json, sys; d = json.load(sys.stdin); print(json.dumps({"load": sys.argv[1], "impl": "pytorch", "setting": f"OMP_NUM_THREADS={sys.argv[2]}", "train_samples_per_s": d["samples_per_s"]}))' "$1" "$2" |
    tee -a "$jsonl"
}
measure() {  # load
  for ((r = 0; r < repeat; ++r)); do
    recblocks "$1" default
    recblocks "$1" "1 thread"
    recblocks "$1" passive RECBLOCKS_SPIN_US=0 RECBLOCKS_ADAPT_THREADS=0
    recblocks "$1" "spin, no fallback" RECBLOCKS_ADAPT_THREADS=0
  done
  torch "$1" 1
  torch "$1" "$cores"
}

measure quiet
bash -c 'while :; do :; done' &
busy=$!
trap 'kill $busy 2>/dev/null || true' EXIT
sleep 1
measure loaded
kill $busy
trap - EXIT

echo
"$python" - "$jsonl" <<'PY' | tee "$out/summary.md"
import json, statistics, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
machine = next(l for l in lines if l.get("type") == "machine")
print(f"{machine['model']}, {machine['cpus']} CPUs, seed DLRM training samples/s (median)\n")
runs = {}
for l in lines:
    if "impl" in l:
        runs.setdefault((l["load"], l["impl"], l["setting"]), []).append(l["train_samples_per_s"])
med = {k: statistics.median(v) for k, v in runs.items()}
print("| load | implementation | setting | samples/s | runs |")
print("| --- | --- | --- | ---: | --- |")
for (load, impl, setting), v in runs.items():
    print(f"| {load} | {impl} | {setting} | {med[(load, impl, setting)]:,.0f} | {', '.join(f'{x:,.0f}' for x in v)} |")
print()
for load in ("quiet", "loaded"):
    default = med[(load, "recblocks", "default")]
    best_alt = max(med[(load, "recblocks", "1 thread")], med[(load, "recblocks", "passive")])
    torch = max(v for (l, impl, _), v in med.items() if l == load and impl == "pytorch")
    print(f"{load}: default / best of (1 thread, passive) = {default / best_alt:.2f}; "
          f"default / PyTorch's best = {default / torch:.2f}")
PY
echo "raw results: $jsonl" >&2
