#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang under ASan + UBSan into
# build-fuzz/ and runs each for a while, starting from its seeds in
# fuzz/corpus/<target>/.
#
#   bash scripts/fuzz.sh                  # every target, 30 s each
#   bash scripts/fuzz.sh --time 600 csv   # one target for 10 minutes
#   bash scripts/fuzz.sh --list           # the targets
#   bash scripts/fuzz.sh --build-only
#
# A target feeds its input to one of recblocks' readers; recblocks::Error is
# the expected answer to a bad input. A crash, a sanitizer report, an
# escaping exception of another type, an input slower than --input-timeout
# seconds or a memory blow-up (over 2 GiB) is a finding: libFuzzer writes
# the input to build-fuzz/findings/<target>/ (crash-*, timeout-*, oom-*,
# leak-*), and the script prints the report and exits non-zero. Reproduce
# one with build-fuzz/fuzz/fuzz_<target> FILE; keep it as a seed in
# fuzz/corpus/<target>/ once fixed. New inputs found while fuzzing collect in
# build-fuzz/corpus/<target>/ (kept between runs, never committed).
#
# Prints per target: executions, executions per second, corpus size and
# the outcome. Options of its own (the others are setup.sh's: --jobs,
# --no-install, --build-dir, --cmake-arg):
#   --time N            seconds per target (default 30)
#   --input-timeout N   seconds one input may take (default 10)
#   --build-only        build, run nothing
#   --no-build          run what is built
#   --list              print the targets and exit
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# parquet runs when the build has Parquet support (pyarrow in .venv; Arrow
# itself is not instrumented, only recblocks' code around it).
all_targets=(npy safetensors schema_json schema_pbtxt model_json csv movielens_raw criteo parquet)
seconds_each=30
input_timeout=10
build_only=0
rest=()
while (($# > 0)); do
  case "$1" in
    --time)
      [[ $# -ge 2 ]] || rb_die "--time needs a number of seconds"
      seconds_each="$2"
      shift
      ;;
    --time=*) seconds_each="${1#*=}" ;;
    --input-timeout)
      [[ $# -ge 2 ]] || rb_die "--input-timeout needs a number of seconds"
      input_timeout="$2"
      shift
      ;;
    --input-timeout=*) input_timeout="${1#*=}" ;;
    --build-only) build_only=1 ;;
    --list)
      printf '%s\n' "${all_targets[@]}"
      exit 0
      ;;
    *) rest+=("$1") ;;
  esac
  shift
done
[[ "${seconds_each}" =~ ^[1-9][0-9]*$ ]] || rb_die "--time: expected a positive number, got '${seconds_each}'"
[[ "${input_timeout}" =~ ^[1-9][0-9]*$ ]] ||
  rb_die "--input-timeout: expected a positive number, got '${input_timeout}'"
RECBLOCKS_BUILD_DIR="${RECBLOCKS_BUILD_DIR:-${RB_ROOT}/build-fuzz}" rb_parse_args --allow-rest "${rest[@]}"
((RB_SANITIZE || RB_MAIN)) && rb_die "--sanitize and --main do not apply to the fuzz build"

targets=("${RB_REST[@]}")
((${#targets[@]} > 0)) || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  [[ " ${all_targets[*]} " == *" ${t} "* ]] || rb_die "unknown target '${t}'; the targets: ${all_targets[*]}"
done

if ((RB_INSTALL)); then
  # The dev packages include clang, libFuzzer's runtime (libclang-rt) and
  # clang's OpenMP runtime.
  bash "${RB_ROOT}/scripts/setup.sh" --no-build
fi

if ((RB_BUILD)); then
  clangxx="$(command -v clang++-14 || command -v clang++ || true)"
  [[ -n "${clangxx}" ]] || rb_die "clang++ not found (scripts/setup.sh installs clang-14)"
  rb_log "Configuring the fuzz build in ${RB_BUILD_DIR}"
  # Only the libraries the readers need are built (no tests, benchmarks,
  # examples or CLI); -O1 -g1 as the sanitizer build (fast enough to fuzz,
  # lines in stack traces).
  rb_run cmake -S "${RB_ROOT}" -B "${RB_BUILD_DIR}" -G Ninja "-DCMAKE_CXX_COMPILER=${clangxx}" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" \
    -DRECBLOCKS_FUZZ=ON -DRECBLOCKS_BUILD_TESTS=OFF -DRECBLOCKS_BUILD_BENCH=OFF \
    -DRECBLOCKS_BUILD_EXAMPLES=OFF -DRECBLOCKS_BUILD_CLI=OFF "${RB_CMAKE_ARGS[@]}"
fi
if [[ " ${targets[*]} " == *" parquet "* ]] &&
  ! grep -q '^RECBLOCKS_PARQUET_BUILT:INTERNAL=ON$' "${RB_BUILD_DIR}/CMakeCache.txt" 2>/dev/null; then
  echo "fuzz_parquet skipped: ${RB_BUILD_DIR} was configured without Parquet support (RECBLOCKS_PARQUET found no pyarrow)" >&2
  kept=()
  for t in "${targets[@]}"; do [[ "${t}" == parquet ]] || kept+=("${t}"); done
  targets=("${kept[@]}")
  ((${#targets[@]} > 0)) || exit 0
fi
if ((RB_BUILD)); then
  build_start=${SECONDS}
  CCACHE_BASEDIR="${RB_ROOT}" CCACHE_NOHASHDIR=1 \
    rb_run cmake --build "${RB_BUILD_DIR}" --parallel "${RB_JOBS}" --target "${targets[@]/#/fuzz_}"
  rb_log "fuzz build done in $((SECONDS - build_start)) s"
fi
((build_only)) && exit 0

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:check_initialization_order=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

failed=()
summary=()
for t in "${targets[@]}"; do
  exe="${RB_BUILD_DIR}/fuzz/fuzz_${t}"
  [[ -x "${exe}" ]] || rb_die "${exe} is not built (run without --no-build)"
  seeds="${RB_ROOT}/fuzz/corpus/${t}"
  work="${RB_BUILD_DIR}/corpus/${t}"
  findings="${RB_BUILD_DIR}/findings/${t}"
  log="${RB_BUILD_DIR}/logs/${t}.log"
  mkdir -p "${work}" "${findings}" "$(dirname "${log}")"
  rb_log "fuzz_${t}: ${seconds_each} s from ${seeds} (log: ${log})"
  status=0
  # The first corpus directory receives the new inputs; the seeds stay as they are.
  "${exe}" -max_total_time="${seconds_each}" -timeout="${input_timeout}" -rss_limit_mb=2048 \
    -malloc_limit_mb=2048 -use_value_profile=1 -print_final_stats=1 \
    -artifact_prefix="${findings}/" "${work}" "${seeds}" >"${log}" 2>&1 || status=$?
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "${log}" | tail -1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "${log}" | tail -1)"
  corpus="$(find "${work}" -type f | wc -l)"
  if ((status == 0)); then
    outcome="ok"
  else
    outcome="FINDING (exit ${status})"
    failed+=("${t}")
    echo "---- fuzz_${t} report:" >&2
    # The sanitizer's or the target's report and the saved input, without the progress lines.
    grep -v -E '^#[0-9]+\s' "${log}" | tail -60 >&2
  fi
  line="$(printf '%-14s %12s runs %8s/s  corpus %6s  %s' "${t}" "${runs:-?}" "${rate:-?}" "${corpus}" \
    "${outcome}")"
  echo "${line}"
  summary+=("${line}")
done

echo
echo "================ fuzz summary (${seconds_each} s per target) ================"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]} > 0)); then
  echo "findings in: ${failed[*]} (inputs under ${RB_BUILD_DIR}/findings/)"
  exit 1
fi
echo "no findings"
