#!/usr/bin/env bash
# The main job in one line: installs and builds recblocks (scripts/setup.sh), then runs
# the command-line tool.
#
#   bash scripts/main.sh                  # setup, then `recblocks --help`
#   bash scripts/main.sh info             # setup, then `recblocks info`
#
# Arguments go to recblocks (default: --help). Build options come from the environment:
# RECBLOCKS_BUILD_DIR (default build/), RECBLOCKS_CMAKE_ARGS, RECBLOCKS_JOBS.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "${root}/scripts/setup.sh"

build_dir="${RECBLOCKS_BUILD_DIR:-${root}/build}"
(($# > 0)) || set -- --help
printf '\n==> recblocks %s\n' "$*" >&2
exec "${build_dir}/recblocks" "$@"
