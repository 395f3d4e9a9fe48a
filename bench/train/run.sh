#!/usr/bin/env bash
# The training benchmark: recblocks (train_bench) and the PyTorch reference
# (bench/torch_ref/train.py) in the same run, on the same dataset
# directories, one JSON line per measurement with both figures and their
# ratio, plus the machine's sgemm GFLOP/s measured in this run (for the
# fraction of the compute roofline the seed model reaches).
#
#   bench/train/run.sh [BUILD_DIR]          (default: build)
#
# Each comparison runs both sides REPEAT times (default 3), alternating, and
# reports the median of each figure on each side, with every run's training
# throughput in "runs" (a VM's neighbours move single runs by 10 % or more).
#
# Evaluation throughput is over EVAL_REPEAT (default 3) evaluations of the
# validation set, each computing the scores and the AUC, on both sides.
#
# Environment: EPOCHS (default 1), REPEAT (default 3), EVAL_REPEAT (default 3), SEED_RATINGS (synthetic ml-1m ratings,
# default 1000209), CRITEO_ROWS (default 300000), THREADS (default 2),
# TRAIN_OUT (folder for data and results, default a new /tmp/train_bench.*),
# PYTHON (default .venv/bin/python3).
#
# PyTorch's thread settings matter: it runs with its best 2-core setting
# for each model, named in every line (seed: OMP_NUM_THREADS=2 with
# OPENBLAS_NUM_THREADS=1; Criteo-like: OMP 1 with OpenBLAS 2).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
out=${TRAIN_OUT:-$(mktemp -d /tmp/train_bench.XXXXXX)}
epochs=${EPOCHS:-1}
threads=${THREADS:-2}
repeat=${REPEAT:-3}
eval_repeat=${EVAL_REPEAT:-3}
python=${PYTHON:-$root/.venv/bin/python3}
mkdir -p "$out"
jsonl=$out/train.jsonl
: >"$jsonl"

if [[ -f $build/CMakeCache.txt ]]; then
  cmake -B "$build" -DRECBLOCKS_BUILD_BENCH=ON >/dev/null
else
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRECBLOCKS_BUILD_BENCH=ON >/dev/null
fi
cmake --build "$build" -j2 --target train_bench recblocks_cli
rb=$build/recblocks

# The data, once per output folder.
if [[ ! -d $out/ml/ml-1m/train ]]; then
  "$rb" data synthetic --shape movielens-1m --rows "${SEED_RATINGS:-1000209}" --out "$out/ml-raw" >/dev/null
  "$rb" data movielens --variant ml-1m --source "$out/ml-raw" --out "$out/ml" --no-download >/dev/null
fi
if [[ ! -d $out/criteo/train ]]; then
  "$rb" data synthetic --shape criteo --rows "${CRITEO_ROWS:-300000}" --max-table-size 100000 \
    --valid-fraction 0.1 --out "$out/criteo" >/dev/null
fi

# sgemm 2048^3 on both cores, float32 (PyTorch's BLAS, the roofline).
gflops=$(OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads "$python" - <<'PY'
import time, torch
a = torch.randn(2048, 2048); b = torch.randn(2048, 2048)
for _ in range(3): torch.mm(a, b)
best = 1e9
for _ in range(10):
    t = time.perf_counter(); torch.mm(a, b); best = min(best, time.perf_counter() - t)
print(f"{2 * 2048**3 / best / 1e9:.1f}")
PY
)
echo "{\"bench\": \"sgemm_2048\", \"threads\": $threads, \"gflops\": $gflops}" | tee -a "$jsonl"

# One comparison: recblocks, then PyTorch with the given thread setting,
# REPEAT times.
compare() {
  local model=$1 batch=$2 omp=$3 blas=$4 data=$5 optimizer=$6
  local runs=$out/runs_${model}_${batch}.jsonl
  : >"$runs"
  for ((r = 0; r < repeat; ++r)); do
    "$build/bench/train/train_bench" --model "$model" --data "$data" --batch-size "$batch" \
      --epochs "$epochs" --threads "$threads" --optimizer "$optimizer" --eval-repeat "$eval_repeat" >>"$runs"
    "$python" "$root/bench/torch_ref/train.py" --model "$model" --data "$data/train" \
      --valid "$data/valid" --batch-size "$batch" --epochs "$epochs" --threads-omp "$omp" \
      --threads-blas "$blas" --optimizer "$optimizer" --eval-repeat "$eval_repeat" --json >>"$runs"
  done
  "$python" - "$runs" "$gflops" "$omp" "$blas" <<'PY' | tee -a "$jsonl"
import json, sys
records = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
gflops, omp, blas = float(sys.argv[2]), sys.argv[3], sys.argv[4]
def median(impl, key):
    values = sorted(r[key] for r in records if r["impl"] == impl and r.get(key) is not None)
    return values[len(values) // 2] if values else None
ours = next(r for r in records if r["impl"] == "recblocks")
line = {"bench": "train", "model": ours["model"], "batch_size": ours["batch_size"],
        "recblocks_threads": ours["threads"], "torch_setting": f"OMP_NUM_THREADS={omp} OPENBLAS_NUM_THREADS={blas}",
        "runs": {"recblocks_train_samples_per_s": [round(r["train_samples_per_s"]) for r in records if r["impl"] == "recblocks"],
                 "torch_train_samples_per_s": [round(r["samples_per_s"]) for r in records if r["impl"] == "pytorch"]}}
# Each figure is the median over the runs of each side.
for key, theirs_key in [("train_samples_per_s", "samples_per_s"), ("eval_samples_per_s", "eval_samples_per_s"),
                        ("peak_rss_mib", "peak_rss_mb"), ("first_step_s", "time_to_first_step_s"),
                        ("val_auc", "valid_auc")]:
    a, b = median("recblocks", key), median("pytorch", theirs_key)
    line[key] = {"recblocks": a, "torch": b, "ratio": (a / b if a and b else None)}
if ours["model"] == "seed":
    # 484 kFLOP per training sample (forward and backward of the MLPs and the interaction).
    line["roofline_fraction"] = 484e3 * line["train_samples_per_s"]["recblocks"] / (gflops * 1e9)
print(json.dumps(line))
PY
}

compare seed 1024 2 1 "$out/ml/ml-1m" adam
compare criteo 128 1 2 "$out/criteo" sgd
compare criteo 256 1 2 "$out/criteo" sgd
echo "results: $jsonl" >&2
