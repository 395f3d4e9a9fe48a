#!/usr/bin/env bash
# Installs the Debian 12 packages recblocks needs, then configures and builds it.
#
#   bash scripts/setup.sh                 # Release build in build/
#   bash scripts/setup.sh --sanitize      # ASan+UBSan build in build-asan/
#   bash scripts/setup.sh --help          # all options
#
# Packages are installed with apt-get only when one is missing (as root, or
# through sudo when it exists), so a second run installs nothing. The build
# uses Ninja and every core.
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
rb_parse_args "$@"

# What the main job needs (the library and the CLI), one group per purpose.
main_packages=(
  # compiler and build tools (g++ brings libgomp, the OpenMP runtime)
  g++ cmake ninja-build
  # the library (BLIS is the GEMM chosen in bench/RESULTS.md; OpenBLAS is the
  # alternative behind -DRECBLOCKS_BLAS=openblas-openmp)
  libfmt-dev libblis-openmp-dev libblis4-openmp libopenblas-dev libopenblas0-openmp
  # the command-line tool and model files
  libcli11-dev nlohmann-json3-dev
  # datasets: downloading and unpacking the MovieLens zips
  libcurl4-openssl-dev libarchive-dev
  # retrieval: the approximate index (HNSW, IVF) for large catalogues
  libfaiss-dev
)
# What the tests, benchmarks and lint add.
dev_packages=(
  # rebuilds of unchanged sources from the compiler cache (CI's stages, a second checkout)
  ccache
  # tests (python3-torch, Debian's CPU build, runs the PyTorch reference of
  # tests/parity and bench/torch_ref)
  libgtest-dev libgmock-dev python3 python3-numpy python3-sklearn python3-venv python3-pip python3-torch
  # benchmarks (bench/gemm compares these GEMM libraries)
  libbenchmark-dev libdnnl-dev libxsmm-dev
  # formatting and linting (.clang-format, .clang-tidy)
  clang-format clang-tidy
  # fuzzing (scripts/fuzz.sh): clang, its libFuzzer and sanitizer runtimes, its OpenMP runtime
  clang-14 libclang-rt-14-dev libomp-14-dev
)
packages=("${main_packages[@]}")
((RB_MAIN)) || packages+=("${dev_packages[@]}")

# Prints the packages of "$@" that are not installed.
missing_packages() {
  local pkg status
  for pkg in "$@"; do
    status="$(dpkg-query -W -f='${db:Status-Status}' "${pkg}" 2>/dev/null || true)"
    [[ "${status}" == "installed" ]] || printf '%s\n' "${pkg}"
  done
}

install_packages() {
  rb_log "Checking ${#packages[@]} Debian packages"
  if ! command -v dpkg-query >/dev/null 2>&1; then
    rb_die "dpkg-query not found: this script installs packages on Debian 12 (use --no-install to skip)"
  fi
  local -a missing
  mapfile -t missing < <(missing_packages "${packages[@]}")
  if ((${#missing[@]} == 0)); then
    echo "all installed" >&2
    return
  fi
  echo "missing: ${missing[*]}" >&2
  local -a sudo=()
  if ((EUID != 0)); then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      rb_die "installing packages needs root; run as root, or install them yourself: ${missing[*]}"
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  rb_run "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
  rb_run "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
  mapfile -t missing < <(missing_packages "${packages[@]}")
  ((${#missing[@]} == 0)) || rb_die "still missing after apt-get install: ${missing[*]}"
}

# The Python that tests and benchmarks use as a reference: a virtual
# environment over Debian's python3 (it sees python3-numpy and
# python3-sklearn) with the PyPI readers of our files added. The library and
# the CLI never need it.
python_env() {
  local venv="${RB_ROOT}/.venv"
  if [[ ! -x "${venv}/bin/python3" ]]; then
    rb_log "Creating the test Python environment in ${venv}"
    rb_run /usr/bin/python3 -m venv --system-site-packages "${venv}"
  fi
  if ! "${venv}/bin/python3" -c 'import safetensors' 2>/dev/null; then
    # Only the tests need it: offline, the build and the main job go on, and
    # the tests that read our files with it say what is missing.
    rb_run "${venv}/bin/python3" -m pip install --quiet --disable-pip-version-check 'safetensors>=0.4' ||
      echo "warning: could not install safetensors from PyPI; the tests that read model files from Python will fail" >&2
  fi
}

build() {
  local -a configure=(cmake -S "${RB_ROOT}" -B "${RB_BUILD_DIR}" -G Ninja
    "-DCMAKE_BUILD_TYPE=${RB_BUILD_TYPE}")
  local -a targets=()
  if ((RB_MAIN)); then
    # The CLI alone: the test suite is most of the compile time and the main
    # job does not need it.
    configure+=(-DRECBLOCKS_BUILD_TESTS=OFF -DRECBLOCKS_BUILD_BENCH=OFF -DRECBLOCKS_BUILD_EXAMPLES=OFF)
    targets=(--target recblocks_cli)
  elif ((RB_SANITIZE)); then
    # -O1 -g1 (ASan's advice: fast enough to run, lines in stack traces) halves
    # the compile time of -O2 -g. Benchmarks and examples are not run there.
    configure+=(-DRECBLOCKS_SANITIZE=ON -DRECBLOCKS_BUILD_TESTS=ON -DRECBLOCKS_BUILD_BENCH=OFF
      -DRECBLOCKS_BUILD_EXAMPLES=OFF "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG")
  else
    # Everything, also in a build directory that a --main build configured.
    configure+=(-DRECBLOCKS_BUILD_TESTS=ON -DRECBLOCKS_BUILD_BENCH=ON -DRECBLOCKS_BUILD_EXAMPLES=ON)
  fi
  configure+=("${RB_CMAKE_ARGS[@]}")
  rb_log "Configuring ${RB_BUILD_TYPE} build in ${RB_BUILD_DIR}"
  rb_run "${configure[@]}"
  rb_log "Building with ${RB_JOBS} jobs"
  # ccache (when installed; CMakeLists.txt uses it) keys on paths relative to
  # the checkout, so a second clone or build directory reuses the objects.
  CCACHE_BASEDIR="${RB_ROOT}" CCACHE_NOHASHDIR=1 \
    rb_run cmake --build "${RB_BUILD_DIR}" --parallel "${RB_JOBS}" "${targets[@]}"
}

start=${SECONDS}
if ((RB_INSTALL)); then
  install_packages
  ((RB_MAIN)) || python_env
fi
if ((RB_BUILD)); then
  build
fi
rb_log "setup done in $((SECONDS - start)) s"
