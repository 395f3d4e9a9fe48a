#!/usr/bin/env bash
# Learning parity with PyTorch (issue 6): the seed DLRM trained by recblocks
# and by the PyTorch reference from the same initial weights (recblocks
# writes them, PyTorch loads them), on the same rows in the same order;
# validation AUC after 1 and after 5 epochs, averaged over 3 seeds, on the
# real ml-100k and on synthetic ml-1m-shaped data. One JSON line per
# dataset: both means, their difference, and every run.
#
#   bench/train/auc_parity.sh [BUILD_DIR]          (default: build)
#
# Environment: SEEDS (default "1 2 3"), EPOCHS (default 5), AUC_OUT (data and
# results, default a new /tmp/auc_parity.*), PYTHON (default .venv/bin/python3),
# SEED_RATINGS (synthetic ml-1m ratings, default 1000209), TOLERANCE (0.003).
# Both sides at 2 threads (PyTorch: OMP 2, OpenBLAS 1, its best for this model).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
out=${AUC_OUT:-$(mktemp -d /tmp/auc_parity.XXXXXX)}
python=${PYTHON:-$root/.venv/bin/python3}
epochs=${EPOCHS:-5}
mkdir -p "$out"
cmake --build "$build" -j2 --target train_bench recblocks_cli >/dev/null
rb=$build/recblocks

[[ -d $out/ml/ml-100k/train ]] ||
  "$rb" data movielens --variant ml-100k --source "$root/../shared/data/ml-100k" --out "$out/ml" >/dev/null
if [[ ! -d $out/ml/ml-1m/train ]]; then
  "$rb" data synthetic --shape movielens-1m --rows "${SEED_RATINGS:-1000209}" --out "$out/ml-raw" >/dev/null
  "$rb" data movielens --variant ml-1m --source "$out/ml-raw" --out "$out/ml" --no-download >/dev/null
fi

for variant in ml-100k ml-1m; do
  data=$out/ml/$variant
  runs=()
  for seed in ${SEEDS:-1 2 3}; do
    init=$out/init-$variant-$seed
    ours=$("$build/bench/train/train_bench" --model seed --data "$data" --epochs "$epochs" --threads 2 \
      --seed "$seed" --save-initial "$init" --valid-every-epoch)
    theirs=$("$python" "$root/bench/torch_ref/train.py" --model seed --data "$data/train" --valid "$data/valid" \
      --epochs "$epochs" --seed "$seed" --init-weights "$init/weights.safetensors" --threads-omp 2 \
      --threads-blas 1 --valid-every-epoch --json)
    runs+=("{\"seed\": $seed, \"recblocks\": $ours, \"torch\": $theirs}")
  done
  printf '%s\n' "${runs[@]}" >"$out/runs-$variant.jsonl"
  "$python" - "$variant" "$epochs" "${TOLERANCE:-0.003}" "$out/runs-$variant.jsonl" <<'PY' | tee -a "$out/auc_parity.jsonl"
import json, sys
variant, epochs, tol = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
runs = [json.loads(line) for line in open(sys.argv[4]) if line.strip()]
line = {"bench": "auc_parity", "data": variant, "seeds": [r["seed"] for r in runs]}
for e in sorted({1, epochs}):
    ours = sum(r["recblocks"]["val_auc_per_epoch"][e - 1] for r in runs) / len(runs)
    theirs = sum(r["torch"]["valid_auc_per_epoch"][e - 1] for r in runs) / len(runs)
    line[f"epoch_{e}"] = {"recblocks": round(ours, 5), "torch": round(theirs, 5),
                          "difference": round(ours - theirs, 5), "within_tolerance": abs(ours - theirs) <= tol}
line["runs"] = [{"seed": r["seed"], "recblocks": r["recblocks"]["val_auc_per_epoch"],
                 "torch": r["torch"]["valid_auc_per_epoch"]} for r in runs]
print(json.dumps(line))
PY
done
echo "results: $out/auc_parity.jsonl" >&2
