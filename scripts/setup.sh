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
  # From PyPI: safetensors (tests read our weight files with it), the Python
  # package's build tools (nanobind, scikit-build-core) and its test tools
  # (pytest; pandas and pyarrow, whose tables the package reads; nbclient and
  # ipykernel, which run the example notebook; mypy, which checks the
  # package's type stubs against code that uses them). pyarrow's wheel (about 40 MB)
  # also carries the Arrow C++ library of recblocks' Parquet support, which
  # Debian 12 does not package (cmake/Parquet.cmake). numpy stays Debian's (torch
  # and sklearn are built against it): pandas and pyarrow are pinned to
  # versions that run on numpy 1.24.
  local -a wanted=('safetensors>=0.4' 'nanobind==3.1.0' 'scikit-build-core==1.1.2' 'pytest>=7'
    'pandas>=2.0,<2.3' 'pyarrow==18.1.0' 'nbclient>=0.8' 'ipykernel>=6' 'mypy==2.4.1')
  if ! "${venv}/bin/python3" -c 'import safetensors, nanobind, scikit_build_core, pytest, pandas, pyarrow, nbclient, ipykernel, mypy' 2>/dev/null; then
    local constraints
    constraints="$(mktemp)"
    echo 'numpy<2' >"${constraints}"
    # Only the tests and the Python package need them: offline, the C++ build
    # and the main job go on without them.
    rb_run "${venv}/bin/python3" -m pip install --quiet --disable-pip-version-check \
      -c "${constraints}" "${wanted[@]}" ||
      echo "warning: could not install ${wanted[*]} from PyPI; the Python package is not built and the tests that need them fail" >&2
    rm -f "${constraints}"
  fi
}

# True when the test environment can build the Python package (nanobind).
python_package_tools() {
  [[ -x "${RB_ROOT}/.venv/bin/python3" ]] && "${RB_ROOT}/.venv/bin/python3" -c 'import nanobind' 2>/dev/null
}

# True when the test environment has pyarrow, whose wheel carries the Arrow
# C++ library that recblocks::parquet builds on (cmake/Parquet.cmake).
python_has_pyarrow() {
  [[ -x "${RB_ROOT}/.venv/bin/python3" ]] && "${RB_ROOT}/.venv/bin/python3" -c 'import pyarrow' 2>/dev/null
}

# `pip install .` into the test environment: the package as a user gets it
# (its own CMake build in build-pip/). With the build above's compiler (c++;
# scikit-build-core would take Python's x86_64-linux-gnu-g++) and folder
# depth, ccache serves every object that build compiled.
install_python_package() {
  rb_log "Installing the Python package into ${RB_ROOT}/.venv (pip install .)"
  CXX="${CXX:-c++}" CCACHE_BASEDIR="${RB_ROOT}" CCACHE_NOHASHDIR=1 CMAKE_BUILD_PARALLEL_LEVEL="${RB_JOBS}" \
    rb_run "${RB_ROOT}/.venv/bin/python3" -m pip install --quiet --disable-pip-version-check \
    --no-build-isolation --no-deps "${RB_ROOT}"
}

build() {
  local -a configure=(cmake -S "${RB_ROOT}" -B "${RB_BUILD_DIR}" -G Ninja
    "-DCMAKE_BUILD_TYPE=${RB_BUILD_TYPE}")
  local -a targets=()
  if ((RB_MAIN)); then
    # The CLI alone: the test suite is most of the compile time and the main
    # job does not need it. Parquet support stays as configured (AUTO: on
    # only where an earlier full setup installed pyarrow into .venv; --main
    # installs no Python environment, so a fresh checkout builds without it).
    configure+=(-DRECBLOCKS_BUILD_TESTS=OFF -DRECBLOCKS_BUILD_BENCH=OFF -DRECBLOCKS_BUILD_EXAMPLES=OFF)
    targets=(--target recblocks_cli)
  elif ((RB_SANITIZE)); then
    # -O1 -g1 (ASan's advice: fast enough to run, lines in stack traces) halves
    # the compile time of -O2 -g. Benchmarks and examples are not run there.
    configure+=(-DRECBLOCKS_SANITIZE=ON -DRECBLOCKS_BUILD_TESTS=ON -DRECBLOCKS_BUILD_BENCH=OFF
      -DRECBLOCKS_BUILD_EXAMPLES=OFF "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG")
  else
    # Everything, also in a build directory that a --main build configured;
    # the Python package's module too when the test environment can build it.
    configure+=(-DRECBLOCKS_BUILD_TESTS=ON -DRECBLOCKS_BUILD_BENCH=ON -DRECBLOCKS_BUILD_EXAMPLES=ON)
    if python_package_tools; then
      configure+=(-DRECBLOCKS_PYTHON=ON "-DPython_EXECUTABLE=${RB_ROOT}/.venv/bin/python3")
    fi
  fi
  # Parquet datasets (recblocks::parquet, `recblocks data convert`) on the
  # Arrow C++ library of the pyarrow that python_env installed: required
  # when it is there, so that a broken pyarrow fails here, not in a test.
  if ((!RB_MAIN)) && python_has_pyarrow; then
    configure+=(-DRECBLOCKS_PARQUET=ON "-DPython_EXECUTABLE=${RB_ROOT}/.venv/bin/python3")
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
  if ((!RB_MAIN && !RB_SANITIZE)) && python_package_tools; then
    install_python_package
  fi
fi
rb_log "setup done in $((SECONDS - start)) s"
