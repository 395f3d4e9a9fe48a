#!/usr/bin/env bash
# Builds recblocks (scripts/setup.sh, same options) and runs its test suite with ctest.
#
#   bash scripts/test.sh                  # Release build in build/, all tests
#   bash scripts/test.sh --sanitize       # the same under ASan+UBSan, in build-asan/
#   bash scripts/test.sh -R tensor        # arguments setup.sh does not know go to ctest
#
# Env: RECBLOCKS_TEST_JOBS (tests run at once, default 2), RECBLOCKS_TEST_TIMEOUT
# (seconds per test without its own TIMEOUT, default 600). The output of ctest is also
# written to <build dir>/ctest.log. Exits non-zero when the build or any test fails.
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
rb_parse_args --allow-rest "$@"

# Rebuild the setup.sh arguments from the parsed ones (the rest belongs to ctest).
setup_args=(--build-dir "${RB_BUILD_DIR}" --build-type "${RB_BUILD_TYPE}" --jobs "${RB_JOBS}")
((RB_SANITIZE)) && setup_args+=(--sanitize)
((RB_INSTALL)) || setup_args+=(--no-install)
((RB_BUILD)) || setup_args+=(--no-build)
# RB_CMAKE_ARGS already holds RECBLOCKS_CMAKE_ARGS; empty it so setup.sh does not add it twice.
RECBLOCKS_CMAKE_ARGS="" bash "${RB_ROOT}/scripts/setup.sh" "${setup_args[@]}" -- "${RB_CMAKE_ARGS[@]}"

if ((RB_SANITIZE)); then
  # Sanitizer settings, unless the caller chose others. UBSan stops at the first
  # error (the build also uses -fno-sanitize-recover=undefined); ASan reports
  # leaks and exits non-zero rather than dumping core.
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1:check_initialization_order=1:strict_init_order=1}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
  # Leak suppressions, only if .ci/lsan.supp exists: none are needed so far (the
  # suite is leak-clean, libgomp and OpenBLAS included), so there is no such file.
  if [[ -z "${LSAN_OPTIONS:-}" && -s "${RB_ROOT}/.ci/lsan.supp" ]]; then
    export LSAN_OPTIONS="suppressions=${RB_ROOT}/.ci/lsan.supp:print_suppressions=0"
  fi
  rb_log "Sanitizer options"
  printf 'ASAN_OPTIONS=%s\nUBSAN_OPTIONS=%s\nLSAN_OPTIONS=%s\n' \
    "${ASAN_OPTIONS}" "${UBSAN_OPTIONS}" "${LSAN_OPTIONS:-}" >&2
fi

log="${RB_BUILD_DIR}/ctest.log"
ctest_cmd=(ctest --test-dir "${RB_BUILD_DIR}" --output-on-failure --no-tests=error
  -j "${RECBLOCKS_TEST_JOBS:-2}" --timeout "${RECBLOCKS_TEST_TIMEOUT:-600}" "${RB_REST[@]}")
rb_log "Running the tests (log: ${log})"
start=${SECONDS}
set +e
rb_run "${ctest_cmd[@]}" 2>&1 | tee "${log}"
status=${PIPESTATUS[0]}
set -e
rb_log "ctest finished in $((SECONDS - start)) s with exit status ${status}"
exit "${status}"
