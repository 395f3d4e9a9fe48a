#!/usr/bin/env bash
# The main job in one line: installs and builds recblocks (scripts/setup.sh), then runs
# the seed notebook's architecture on MovieLens 1M (examples/define_your_own_architecture).
#
#   bash scripts/main.sh                  # setup, then the seed notebook's cells
#   bash scripts/main.sh info             # setup, then `recblocks info` (any CLI arguments)
#
# The notebook's data is MovieLens 1M: it is downloaded into data/ when the network
# allows (or give a local copy with RECBLOCKS_MOVIELENS_SOURCE=ZIP_OR_DIR); offline, the
# example writes synthetic ml-1m-shaped raw files and runs the same importer on them.
# Training the model end to end (compile/fit/evaluate/save) comes with the tasks issue.
# Build options come from the environment: RECBLOCKS_BUILD_DIR (default build/),
# RECBLOCKS_CMAKE_ARGS, RECBLOCKS_JOBS.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "${root}/scripts/setup.sh"

build_dir="${RECBLOCKS_BUILD_DIR:-${root}/build}"
if (($# > 0)); then
  printf '\n==> recblocks %s\n' "$*" >&2
  exec "${build_dir}/recblocks" "$@"
fi
args=(--data "${root}/data")
[[ -n "${RECBLOCKS_MOVIELENS_SOURCE:-}" ]] && args+=(--source "${RECBLOCKS_MOVIELENS_SOURCE}")
printf '\n==> examples/define_your_own_architecture %s\n' "${args[*]}" >&2
exec "${build_dir}/examples/define_your_own_architecture" "${args[@]}"
