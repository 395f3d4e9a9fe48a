#!/usr/bin/env bash
# The retrieval benchmark (issue 7): matrix factorisation and the two-tower
# model trained by recblocks (retrieval_bench) and by the PyTorch reference
# (bench/torch_ref/retrieval.py, next_item.py) on the same ml-100k leave-last-out split
# (each user's latest rating held out), in-batch softmax with logQ
# correction, Adam lr 0.005, batch 1024, 5 epochs, over several seeds; and
# YoutubeDNN (next-item, the split with 20-item histories, sampled softmax
# of 100 popularity-drawn items with logQ, cosine scores at temperature
# 0.1, YT_EPOCHS = 10 epochs); the popularity baseline beside them.
# recblocks trains MF and two-tower twice per seed: by default (each
# distinct item of a batch scored once, UniqueRows) and with
# --no-unique-candidates (every row's candidate scored, as PyTorch does). Prints a markdown table (mean and spread
# of recall@10 and ndcg@10 over the full catalogue with each user's
# training items excluded, training samples/s, the ratio) and writes every
# run to $RETRIEVAL_OUT/runs.jsonl.
#
#   bench/retrieval/run.sh [BUILD_DIR]          (default: build)
#
# Environment: SEEDS (default "0 1 2"), EPOCHS (default 5), RETRIEVAL_OUT
# (default a new /tmp/retrieval_bench.*), PYTHON (default .venv/bin/python3).
# recblocks on 2 threads; PyTorch at OMP 1 / OpenBLAS 2 and at OMP 2 /
# OpenBLAS 1 (its two 2-core settings), the table keeping its faster one.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
out=${RETRIEVAL_OUT:-$(mktemp -d /tmp/retrieval_bench.XXXXXX)}
python=${PYTHON:-$root/.venv/bin/python3}
epochs=${EPOCHS:-5}
yt_epochs=${YT_EPOCHS:-10}
mkdir -p "$out"
cmake --build "$build" -j2 --target retrieval_bench recblocks_cli >/dev/null
[[ -d $out/ml/ml-100k/train ]] ||
  "$build/recblocks" data movielens --variant ml-100k --source "$root/../shared/data/ml-100k" --out "$out/ml" \
    --split leave-last-out >/dev/null
[[ -d $out/seq/ml-100k/train ]] ||
  "$build/recblocks" data movielens --variant ml-100k --source "$root/../shared/data/ml-100k" --out "$out/seq" \
    --split leave-last-out --history 20 >/dev/null
data=$out/ml/ml-100k
seq=$out/seq/ml-100k
runs=$out/runs.jsonl
: >"$runs"
"$build/bench/retrieval/retrieval_bench" --model popularity --data "$data" >>"$runs"
"$python" "$root/bench/torch_ref/retrieval.py" --train "$data/train" --valid "$data/valid" --model popularity >>"$runs"
for model in mf two_tower; do
  for seed in ${SEEDS:-0 1 2}; do
    "$build/bench/retrieval/retrieval_bench" --model "$model" --data "$data" --epochs "$epochs" --seed "$seed" \
      --threads 2 >>"$runs"
    "$build/bench/retrieval/retrieval_bench" --model "$model" --data "$data" --epochs "$epochs" --seed "$seed" \
      --threads 2 --no-unique-candidates >>"$runs"
    for threads in "1 2" "2 1"; do
      set -- $threads
      OMP_NUM_THREADS=$1 OPENBLAS_NUM_THREADS=$2 "$python" "$root/bench/torch_ref/retrieval.py" --train "$data/train" \
        --valid "$data/valid" --model "$model" --threads "$1" --epochs "$epochs" --seed "$seed" --logq \
        --logq-after-temperature | sed "s/^{/{\"omp\": $1, \"blas\": $2, /" >>"$runs"
    done
  done
done
for seed in ${SEEDS:-0 1 2}; do
  "$build/bench/retrieval/retrieval_bench" --model youtube_dnn --data "$seq" --epochs "$yt_epochs" --seed "$seed" \
    --threads 2 --l2-norm --temperature 0.1 >>"$runs"
  for threads in "1 2" "2 1"; do
    set -- $threads
    OMP_NUM_THREADS=$1 OPENBLAS_NUM_THREADS=$2 "$python" "$root/bench/torch_ref/next_item.py" --train "$seq/train" \
      --valid "$seq/valid" --threads "$1" --epochs "$yt_epochs" --seed "$seed" --l2-norm \
      --temperature 0.1 | sed "s/^{/{\"omp\": $1, \"blas\": $2, /" >>"$runs"
  done
done
"$python" "$here/summarize.py" "$runs"
echo "runs: $runs" >&2
