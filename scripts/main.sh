#!/usr/bin/env bash
# The main job in one line: installs what the CLI needs and builds it (scripts/setup.sh
# --main: no tests, benchmarks or examples; scripts/test.sh builds those), then runs
# `recblocks demo`: the seed notebook end to end (MovieLens 1M through Merlin's ETL, the
# custom DLRM built from blocks, fit 5 epochs at batch 1024 with Adam, evaluate, save to
# custom_dlrm/).
#
#   bash scripts/main.sh                  # setup, then `recblocks demo`
#   bash scripts/main.sh info             # setup, then `recblocks info` (any CLI arguments)
#
# The notebook's data is MovieLens 1M: it is downloaded into data/ when the network
# allows (or give a local copy with RECBLOCKS_MOVIELENS_SOURCE=ZIP_OR_DIR); offline, the
# demo writes synthetic ml-1m-shaped raw files, says so, and runs the same importer on them.
# The model is saved to custom_dlrm/ in the repository root.
# Build options come from the environment: RECBLOCKS_BUILD_DIR (default build/),
# RECBLOCKS_CMAKE_ARGS, RECBLOCKS_JOBS.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "${root}/scripts/setup.sh" --main

build_dir="${RECBLOCKS_BUILD_DIR:-${root}/build}"
if (($# > 0)); then
  printf '\n==> recblocks %s\n' "$*" >&2
  exec "${build_dir}/recblocks" "$@"
fi
args=(demo --data "${root}/data" --out "${root}/custom_dlrm")
[[ -n "${RECBLOCKS_MOVIELENS_SOURCE:-}" ]] && args+=(--source "${RECBLOCKS_MOVIELENS_SOURCE}")
printf '\n==> recblocks %s\n' "${args[*]}" >&2
exec "${build_dir}/recblocks" "${args[@]}"
