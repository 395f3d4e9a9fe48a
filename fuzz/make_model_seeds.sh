#!/usr/bin/env bash
# Writes the model_json fuzz target's fixture (fuzz/fixtures/model_json/:
# schema.json and weights.safetensors of a small DLRM) and seeds
# (fuzz/corpus/model_json/: that model's model.json, and the model.json of
# other presets on the same schema, which get as far as the weights check),
# with the CLI:  bash fuzz/make_model_seeds.sh build/recblocks
set -euo pipefail
cli="$(realpath "${1:?usage: make_model_seeds.sh path/to/recblocks}")"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
# A small schema keeps model.json short (a few KB): libFuzzer mutates short inputs faster.
cat >"${work}/schema.json" <<'JSON'
{"format": "recblocks.schema", "version": 1, "columns": [
 {"name": "user", "dtype": "int32", "tags": ["categorical", "user_id", "user", "id"], "domain": {"min": 0, "max": 30}},
 {"name": "item", "dtype": "int32", "tags": ["categorical", "item_id", "item", "id"], "domain": {"min": 0, "max": 40}},
 {"name": "genre", "dtype": "int32", "tags": ["categorical", "item"], "domain": {"min": 0, "max": 5}},
 {"name": "age", "dtype": "float32", "tags": ["continuous", "user"]},
 {"name": "price", "dtype": "float32", "tags": ["continuous", "item"]},
 {"name": "click", "dtype": "int32", "tags": ["target", "binary_classification"], "domain": {"min": 0, "max": 1}}
]}
JSON
"${cli}" --threads 1 data synthetic --schema "${work}/schema.json" --rows 500 --valid-fraction 0.2 \
  --out "${work}/data" >/dev/null
train() {
  local name="$1"
  shift
  "${cli}" --threads 1 train --data "${work}/data" --epochs 1 --batch-size 200 --embedding-dim 4 \
    --no-progress --out "${work}/${name}" "$@" >/dev/null
}
mkdir -p "${here}/fixtures/model_json" "${here}/corpus/model_json"
train dlrm --model dlrm --bottom 8,4 --top 8
cp "${work}/dlrm/schema.json" "${work}/dlrm/weights.safetensors" "${here}/fixtures/model_json/"
# Compact JSON: the same document, fewer bytes to mutate.
compact() { python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1])), separators=(",", ":")))' "$1"; }
compact "${work}/dlrm/model.json" >"${here}/corpus/model_json/dlrm.json"
train dcn --model dcn --top 8 --cross-depth 1
train deepfm --model deepfm --top 8
train wide_deep --model wide_deep --top 8 --num-bins 16
train mlp --model mlp --top 8,4
for name in dcn deepfm wide_deep mlp; do
  compact "${work}/${name}/model.json" >"${here}/corpus/model_json/${name}.json"
done
ls -l "${here}/fixtures/model_json" "${here}/corpus/model_json"
