#!/usr/bin/env bash
# Checks C++ files with clang-format (.clang-format) and clang-tidy (.clang-tidy).
#
#   bash scripts/lint.sh src/cli/main.cpp          # check the files given
#   bash scripts/lint.sh                           # check the C++ files changed since HEAD
#   bash scripts/lint.sh --fix src/cli/main.cpp    # reformat them in place (format only)
#   bash scripts/lint.sh --all                     # every tracked C++ file
#   bash scripts/lint.sh --all --format-only       # clang-format alone (what CI checks)
#
# clang-tidy needs compile_commands.json from a configured build: build/ by default,
# env RECBLOCKS_BUILD_DIR to choose another (bash scripts/setup.sh makes it). Headers
# are checked through the sources that include them. Exits non-zero on any finding.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${RECBLOCKS_BUILD_DIR:-${root}/build}"
fix=0
all=0
format_only=0
files=()
for arg in "$@"; do
  case "${arg}" in
    --fix) fix=1 ;;
    --all) all=1 ;;
    --format-only) format_only=1 ;;
    -*)
      echo "error: unknown option ${arg}" >&2
      exit 2
      ;;
    *) files+=("${arg}") ;;
  esac
done

if ((all)); then
  cd "${root}"
  mapfile -t files < <(git ls-files -- '*.h' '*.hpp' '*.cpp' '*.cc')
elif ((${#files[@]} == 0)); then
  cd "${root}"
  mapfile -t files < <({
    git diff --name-only HEAD -- 2>/dev/null || true
    git ls-files --others --exclude-standard
  } | grep -E '\.(h|hpp|cpp|cc)$' | sort -u)
  if ((${#files[@]} == 0)); then
    echo "no changed C++ files; name the files to check" >&2
    exit 0
  fi
fi

status=0
echo "==> clang-format on ${#files[@]} files" >&2
if ((fix)); then
  clang-format -i "${files[@]}"
else
  clang-format --dry-run --Werror "${files[@]}" || status=1
fi

sources=()
for f in "${files[@]}"; do
  [[ "${f}" =~ \.(cpp|cc)$ ]] && sources+=("${f}")
done
if ((${#sources[@]} > 0 && !format_only)); then
  if [[ ! -f "${build_dir}/compile_commands.json" ]]; then
    echo "error: ${build_dir}/compile_commands.json not found; run bash scripts/setup.sh" >&2
    exit 1
  fi
  # Only the sources this build compiles (blas_openblas.cpp is built only with
  # -DRECBLOCKS_BLAS=openblas-openmp): the others have no flags to check them with.
  built=()
  for f in "${sources[@]}"; do
    if grep -qF "/${f}\"" "${build_dir}/compile_commands.json"; then
      built+=("${f}")
    else
      echo "skipped (not compiled by ${build_dir}): ${f}" >&2
    fi
  done
  sources=("${built[@]}")
  echo "==> clang-tidy on ${#sources[@]} sources" >&2
  # One process per source, on every core; --quiet keeps only the findings.
  printf '%s\0' "${sources[@]}" |
    xargs -0 -n 1 -P "$(nproc)" clang-tidy --quiet -p "${build_dir}" --warnings-as-errors='*' ||
    status=1
fi
exit "${status}"
