#!/bin/sh
# Runs a test command only when the real data it reads is at hand:
#
#   require_data.sh FILE REASON_FILE REASON -- COMMAND [ARG...]
#
# When FILE does not exist it prints why and exits 77, which the tests
# declare as their SKIP_RETURN_CODE: ctest reports them as skipped, not
# failed. The reason is REASON_FILE's text when that file exists
# (data.fetch_ml100k writes there why the download failed), else REASON.
# Otherwise it runs COMMAND.
set -u
file=$1 reason_file=$2 reason=$3
shift 3
[ "$1" = "--" ] && shift
if [ ! -e "${file}" ]; then
  [ -s "${reason_file}" ] && reason=$(cat "${reason_file}")
  echo "SKIPPED: ${file} not found: ${reason}"
  exit 77
fi
exec "$@"
