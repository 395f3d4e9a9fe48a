# shellcheck shell=bash disable=SC2034  # sourced; the RB_* variables are read by the callers
# Shared by scripts/setup.sh, scripts/test.sh and scripts/main.sh (sourced, not run).
#
# Parses the build options they all accept, so that `test.sh --sanitize`
# tests exactly the tree that `setup.sh --sanitize` built:
#
#   --sanitize            ASan+UBSan build in build-asan/ (RelWithDebInfo at -O1 -g1,
#                         without benchmarks and examples)
#   --main                only what the main job needs: the library's and the CLI's
#                         packages, and the `recblocks` CLI (no tests, benchmarks,
#                         examples, Python environment or lint tools)
#   --build-dir DIR       build directory (default build/, or build-asan/ with --sanitize;
#                         env RECBLOCKS_BUILD_DIR)
#   --build-type TYPE     CMAKE_BUILD_TYPE (default Release, RelWithDebInfo with --sanitize)
#   --jobs N              parallel compile jobs (default: nproc; env RECBLOCKS_JOBS)
#   --no-install          skip the apt-get step
#   --no-build            install packages only
#   --cmake-arg ARG       one extra argument for cmake's configure step (repeatable);
#                         env RECBLOCKS_CMAKE_ARGS adds space-separated ones
#   -- ARGS...            everything after -- goes to cmake's configure step as well
#
# After rb_parse_args: RB_ROOT, RB_BUILD_DIR (absolute), RB_BUILD_TYPE, RB_SANITIZE (0/1),
# RB_MAIN (0/1), RB_JOBS, RB_INSTALL (0/1), RB_BUILD (0/1), RB_CMAKE_ARGS (array), RB_REST (array: unparsed
# arguments, only when rb_parse_args was called with --allow-rest as its first argument).

RB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

rb_log() { printf '\n==> %s\n' "$*" >&2; }
rb_die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}
# Prints a command, then runs it.
rb_run() {
  printf '+ %s\n' "$*" >&2
  "$@"
}

# The running script's header comment, then the options listed above.
rb_usage() {
  sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"
  printf '\nOptions:\n'
  sed -n '/^#   --sanitize/,/^#   -- ARGS/p' "${RB_ROOT}/scripts/common.sh" | sed 's/^#//'
}

rb_parse_args() {
  local allow_rest=0
  if [[ "${1:-}" == "--allow-rest" ]]; then
    allow_rest=1
    shift
  fi
  RB_SANITIZE=0
  RB_MAIN=0
  RB_BUILD_DIR="${RECBLOCKS_BUILD_DIR:-}"
  RB_BUILD_TYPE=""
  RB_JOBS="${RECBLOCKS_JOBS:-$(nproc)}"
  RB_INSTALL=1
  RB_BUILD=1
  RB_CMAKE_ARGS=()
  RB_REST=()
  if [[ -n "${RECBLOCKS_CMAKE_ARGS:-}" ]]; then
    local -a env_args
    read -r -a env_args <<<"${RECBLOCKS_CMAKE_ARGS}"
    RB_CMAKE_ARGS+=("${env_args[@]}")
  fi
  while (($# > 0)); do
    case "$1" in
      --sanitize) RB_SANITIZE=1 ;;
      --main) RB_MAIN=1 ;;
      --build-dir)
        [[ $# -ge 2 ]] || rb_die "--build-dir needs a directory"
        RB_BUILD_DIR="$2"
        shift
        ;;
      --build-dir=*) RB_BUILD_DIR="${1#*=}" ;;
      --build-type)
        [[ $# -ge 2 ]] || rb_die "--build-type needs a value"
        RB_BUILD_TYPE="$2"
        shift
        ;;
      --build-type=*) RB_BUILD_TYPE="${1#*=}" ;;
      --jobs | -j)
        [[ $# -ge 2 ]] || rb_die "--jobs needs a number"
        RB_JOBS="$2"
        shift
        ;;
      --jobs=*) RB_JOBS="${1#*=}" ;;
      --no-install) RB_INSTALL=0 ;;
      --no-build) RB_BUILD=0 ;;
      --cmake-arg)
        [[ $# -ge 2 ]] || rb_die "--cmake-arg needs a value"
        RB_CMAKE_ARGS+=("$2")
        shift
        ;;
      --cmake-arg=*) RB_CMAKE_ARGS+=("${1#*=}") ;;
      --)
        shift
        RB_CMAKE_ARGS+=("$@")
        break
        ;;
      -h | --help)
        rb_usage
        exit 0
        ;;
      *)
        if ((allow_rest)); then
          RB_REST+=("$1")
        else
          rb_die "unknown argument '$1' (see --help)"
        fi
        ;;
    esac
    shift
  done
  ((RB_MAIN && RB_SANITIZE)) && rb_die "--main and --sanitize do not go together"
  [[ "${RB_JOBS}" =~ ^[1-9][0-9]*$ ]] || rb_die "--jobs: expected a positive number, got '${RB_JOBS}'"
  if [[ -z "${RB_BUILD_DIR}" ]]; then
    if ((RB_SANITIZE)); then
      RB_BUILD_DIR="${RB_ROOT}/build-asan"
    else
      RB_BUILD_DIR="${RB_ROOT}/build"
    fi
  fi
  # A relative --build-dir is relative to the current directory, as with cmake -B.
  [[ "${RB_BUILD_DIR}" == /* ]] || RB_BUILD_DIR="${PWD}/${RB_BUILD_DIR}"
  if [[ -z "${RB_BUILD_TYPE}" ]]; then
    if ((RB_SANITIZE)); then
      RB_BUILD_TYPE=RelWithDebInfo
    else
      RB_BUILD_TYPE=Release
    fi
  fi
}
