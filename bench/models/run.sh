#!/usr/bin/env bash
# The "explore different models" benchmark (issue 8): every ranking preset
# trained by recblocks on the real ml-100k (Merlin ETL, random 80/20, the
# seed notebook's columns, target rating_binary) and on synthetic
# Criteo-shaped data, over several seeds; DCN-v2 and DeepFM also by their
# PyTorch references (bench/torch_ref) from the same initial weights on the
# same rows in the same order. Prints a markdown table (mean and spread of
# validation AUC and logloss, seconds per epoch, samples/s, peak memory) and
# writes every run to $MODELS_OUT/runs.jsonl. MMoE and PLE train two tasks
# of ml-100k (rating_binary and rating, the regression's loss weighted 0.5).
#
#   bench/models/run.sh [BUILD_DIR]          (default: build)
#
# Environment: SEEDS (default "1 2 3"), EPOCHS (default 2), MODELS_OUT
# (default a new /tmp/models_bench.*), PYTHON (default .venv/bin/python3),
# CRITEO_ROWS (default 200000), CRITEO_TABLE (cap on the 26 table sizes,
# default 10000). Both sides on 2 cores; PyTorch at OMP 2 / OpenBLAS 1 and at
# OMP 1 / OpenBLAS 2, the table showing its faster setting.
# Optimizer: Adam lr 1e-3 (Keras' update, dense on the tables, both sides),
# batch 1024; Wide&Deep's wide part (one-hot and every pair of categorical
# columns crossed into at most 10000 bins) by FTRL lr 0.05, the CLI's default. Criteo: embedding dim 16 (DLRM, DeepFM, MLP; DCN infers its
# dims from the cardinalities, as Merlin's DCNModel).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
out=${MODELS_OUT:-$(mktemp -d /tmp/models_bench.XXXXXX)}
python=${PYTHON:-$root/.venv/bin/python3}
epochs=${EPOCHS:-2}
mkdir -p "$out"
cmake --build "$build" -j2 --target train_bench recblocks_cli >/dev/null
rb=$build/recblocks
bench=$build/bench/train/train_bench

[[ -d $out/ml/ml-100k/train ]] ||
  "$rb" data movielens --variant ml-100k --source "$root/../shared/data/ml-100k" --out "$out/ml" >/dev/null
[[ -d $out/criteo/train ]] ||
  "$rb" data synthetic --shape criteo --rows "${CRITEO_ROWS:-200000}" --max-table-size "${CRITEO_TABLE:-10000}" \
    --valid-fraction 0.1 --out "$out/criteo" >/dev/null

runs=$out/runs.jsonl
: >"$runs"
run() {  # data_name data_dir model extra_recblocks_args... -- extra_torch_args...
  local name=$1 dir=$2 model=$3
  shift 3
  local ours=() theirs=()
  while [[ $# -gt 0 && $1 != -- ]]; do ours+=("$1"); shift; done
  [[ $# -gt 0 ]] && shift
  theirs=("$@")
  for seed in ${SEEDS:-1 2 3}; do
    local init=$out/init-$name-$model-$seed
    local line
    line=$("$bench" --model "$model" --data "$dir" --epochs "$epochs" --threads 2 --seed "$seed" \
      --save-initial "$init" "${ours[@]}")
    echo "{\"data\": \"$name\", \"seed\": $seed, \"run\": $line}" >>"$runs"
    if [[ $model == dcn || $model == deepfm ]]; then
      # Both of PyTorch's 2-core settings; the summary keeps its faster one.
      for threads in "2 1" "1 2"; do
        set -- $threads
        line=$("$python" "$root/bench/torch_ref/train.py" --model "$model" --data "$dir/train" --valid "$dir/valid" \
          --epochs "$epochs" --seed "$seed" --init-weights "$init/weights.safetensors" --threads-omp "$1" \
          --threads-blas "$2" --json "${theirs[@]}")
        echo "{\"data\": \"$name\", \"seed\": $seed, \"run\": $line}" >>"$runs"
      done
    fi
    rm -rf "$init"
  done
}

ml=$out/ml/ml-100k
for model in dlrm dcn deepfm wide_deep ncf mlp; do run ml-100k "$ml" "$model" --seed-columns -- --seed-columns; done
# Multi-task: rating (regression, loss weight 0.5) and rating_binary (1).
for model in mmoe ple; do run ml-100k "$ml" "$model" --seed-columns --loss-weights 0.5,1; done
for model in dlrm dcn deepfm wide_deep mlp; do
  run criteo "$out/criteo" "$model" --embedding-dim 16 -- --embedding-dim 16
done

"$python" "$here/summarize.py" "$runs" "$epochs"
echo "runs: $runs" >&2
