#!/usr/bin/env bash
# Runs every gemm_* executable of bench/gemm in every threading mode and
# prints one JSON line per measurement, then a markdown summary.
#
#   bench/gemm/run.sh [BUILD_DIR]        (default: build/bench/gemm)
#
# Environment knobs: RUNS (full sweeps, default 3; the summary shows the median
# of the runs and flags cells whose runs differ by more than 10 %),
# STRESS_CHECKS (correctness repetitions of the split mode, default 20; 0 = skip),
# GEMM_OUT (folder for gemm.jsonl and summary.md, default a new /tmp/gemm_bench.*),
# BENCH_ARGS (extra arguments for every executable, e.g. "--quick"),
# QUIET_WAIT_S (how long to wait for an idle machine before each process, default 300),
# RT_PRIORITY (if set, e.g. 10: for a machine that is never idle, run each executable
# with SCHED_FIFO at that priority, plus one SCHED_FIFO priority-1 busy loop per CPU
# for the lifetime of that executable only, so that CPU time the benchmark leaves
# idle is not given to other processes (whose cache traffic would disturb it); other
# processes keep the 5 % that RT throttling reserves. No waiting for quiet then, and
# one attempt per measurement; expect other processes to be nearly stopped meanwhile).
#
# Threading per mode (one process per library and mode, so no pool outlives its mode):
#   1t     OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 BLIS_NUM_THREADS=1
#   2t     OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 BLIS_NUM_THREADS=2   (library's own threading)
#   split  OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=1 BLIS_NUM_THREADS=1   (2 OpenMP threads x 1-thread GEMM)
#   2t_epi as 2t, forward GEMMs each followed by an OpenMP bias+ReLU epilogue (two pools or one?)
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are left as found; if either is set,
# the OpenBLAS executables also run once with both unset (tag "openblas-env-unset").
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${1:-build/bench/gemm}
runs=${RUNS:-3}
stress=${STRESS_CHECKS:-20}
out=${GEMM_OUT:-$(mktemp -d /tmp/gemm_bench.XXXXXX)}
mkdir -p "$out"
jsonl=$out/gemm.jsonl
: >"$jsonl"
read -r -a extra <<<"${BENCH_ARGS:-}"
[[ -n ${RT_PRIORITY:-} ]] && extra+=(--wait-budget-s 0 --attempts 1)

# RT mode: idle soakers, one busy loop per CPU, alive only while one executable
# runs. Each ends by itself when soak_stop creates its stop file, or after 240 s.
soakers=()
stopfile=
soak_start() {
  [[ -n ${RT_PRIORITY:-} ]] || return 0
  local c
  stopfile=$(mktemp -u /tmp/gemm_soak.XXXXXX)
  for ((c = 0; c < $(nproc); c++)); do
    # shellcheck disable=SC2016  # $1 is expanded by the inner bash
    chrt -f 1 taskset -c "$c" bash -c \
      'while ((SECONDS < 240)) && [[ ! -e $1 ]]; do for ((i = 0; i < 20000; i++)); do :; done; done' soak "$stopfile" &
    soakers+=($!)
  done
}
soak_stop() {
  ((${#soakers[@]})) || return 0
  touch "$stopfile"
  wait "${soakers[@]}" 2>/dev/null
  rm -f "$stopfile"
  soakers=()
}
trap soak_stop EXIT
trap 'soak_stop; exit 130' INT TERM

libs=(openblas_openmp openblas_pthread openblas_serial blis dnnl xsmm)
modes=(1t 2t split 2t_epi)
groups=(seed criteo-b128 criteo-b256 roofline)

emit() { echo "$1" | tee -a "$jsonl"; }

# Machine description.
model=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
flags=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx|avx2|fma|f16c|avx512f|avx512_bf16|amx_tile)$' | sort -u | tr '\n' ' ' | sed 's/ $//')
emit "{\"type\":\"machine\",\"date\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"model\":\"$model\",\"cpus\":$(nproc),\"flags\":\"$flags\",\"kernel\":\"$(uname -r)\",\"compiler\":\"$(c++ --version | head -1)\",\"command\":\"$0 $*\",\"runs\":$runs,\"bench_args\":\"${BENCH_ARGS:-}\",\"OPENBLAS_CORETYPE\":\"${OPENBLAS_CORETYPE-<unset>}\",\"OPENBLAS_L2_SIZE\":\"${OPENBLAS_L2_SIZE-<unset>}\",\"rt_priority\":\"${RT_PRIORITY:-none}\",\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}"

# Waits (up to QUIET_WAIT_S, default 300 s) for a 0.5 s window in which the
# machine's CPUs were at most 3 % busy (this script is idle meanwhile).
busy_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9; exit}' /proc/stat; }
wait_quiet() {
  [[ -n ${RT_PRIORITY:-} ]] && return 0
  local t0=$SECONDS said=0 a b
  while ((SECONDS - t0 < ${QUIET_WAIT_S:-300})); do
    a=$(busy_ticks); sleep 0.5; b=$(busy_ticks)
    ((b - a <= 3)) && return 0
    if ((SECONDS - said >= 60)); then
      said=$SECONDS
      echo "waiting for a quiet machine ($((SECONDS - t0)) s)" >&2
    fi
  done
  echo "machine still busy after ${QUIET_WAIT_S:-300} s; measuring anyway (results flagged as contended)" >&2
}

# run_one <lib> <mode> <run> <tag> [args...]; the environment is set per mode.
run_one() {
  local lib=$1 mode=$2 run=$3 tag=$4
  shift 4
  local exe=$build/gemm_$lib
  if [[ ! -x $exe ]]; then
    emit "{\"type\":\"skip\",\"lib\":\"$lib\",\"mode\":\"$mode\",\"run\":$run,\"tag\":\"$tag\",\"why\":\"$exe not built\"}"
    return
  fi
  wait_quiet
  local omp=2 lib_threads=1
  case $mode in
    1t) omp=1 ;;
    2t | 2t_epi) lib_threads=2 ;;
  esac
  local prefix=()
  [[ -n ${RT_PRIORITY:-} ]] && prefix=(chrt -f "$RT_PRIORITY")
  soak_start
  OMP_NUM_THREADS=$omp OPENBLAS_NUM_THREADS=$lib_threads BLIS_NUM_THREADS=$lib_threads \
    "${prefix[@]}" "$exe" --mode "$mode" --run "$run" --tag "$tag" "${extra[@]}" "$@" | tee -a "$jsonl"
  soak_stop
}

# One process per (run, shape group, library, mode): all libraries measure one
# group within a minute or so, so slow drifts of the machine hit them alike.
for ((r = 1; r <= runs; r++)); do
  for group in "${groups[@]}"; do
    for lib in "${libs[@]}"; do
      for mode in "${modes[@]}"; do run_one "$lib" "$mode" "$r" default --groups "$group"; done
    done
  done
done

if [[ -n ${OPENBLAS_CORETYPE+x} || -n ${OPENBLAS_L2_SIZE+x} ]]; then
  for lib in openblas_openmp openblas_pthread openblas_serial; do
    for mode in 1t 2t split; do
      (unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE; run_one "$lib" "$mode" 1 openblas-env-unset)
    done
  done
fi

# Thread safety of the batch-split: every split GEMM checked STRESS_CHECKS times.
if ((stress > 0)); then
  for lib in "${libs[@]}"; do
    run_one "$lib" split 1 stress --groups seed,criteo-b128,criteo-b256 --checks-only "$stress"
  done
fi

echo
python3 "$here/summarize.py" "$jsonl" | tee "$out/summary.md"
echo
echo "raw results: $jsonl, summary: $out/summary.md" >&2
