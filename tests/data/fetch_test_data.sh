#!/bin/sh
# The ctest fixture data.fetch_ml100k: makes sure the real ml-100k that some
# tests read is at hand, downloading it once into the cache when the test
# data directory lacks it.
#
#   fetch_test_data.sh CLI DATA_DIR CACHE DOWNLOAD
#
# CLI: the recblocks executable; DATA_DIR: RECBLOCKS_TEST_DATA_DIR (normally
# ../shared/data); CACHE: RECBLOCKS_TEST_DATA_CACHE; DOWNLOAD: 1 to try the
# download (RECBLOCKS_TEST_DOWNLOAD), 0 not to. Exits 0 when the raw files
# are in DATA_DIR/ml-100k or CACHE/ml-100k, else 77 (ctest's "skipped") after
# writing why to CACHE/ml-100k.unavailable, which the tests that need the
# data quote when they skip.
set -u
cli=$1 data_dir=$2 cache=$3 download=$4
reason_file="${cache}/ml-100k.unavailable"

if [ -f "${data_dir}/ml-100k/u.data" ]; then
  echo "ml-100k: using ${data_dir}/ml-100k"
  exit 0
fi
if [ -f "${cache}/ml-100k/u.data" ]; then
  echo "ml-100k: using the download cache ${cache}/ml-100k"
  rm -f "${reason_file}"
  exit 0
fi
mkdir -p "${cache}"
if [ "${download}" != 1 ]; then
  reason="ml-100k is neither in ${data_dir}/ml-100k nor in ${cache}/ml-100k, and downloading is off (RECBLOCKS_TEST_DOWNLOAD=OFF)"
else
  echo "ml-100k: not in ${data_dir}/ml-100k; downloading it into ${cache}"
  # The import that follows the download is cheap; its raw files are what the tests read.
  if output=$("${cli}" data movielens --variant ml-100k --out "${cache}" 2>&1) &&
    [ -f "${cache}/ml-100k/u.data" ]; then
    echo "${output}" | tail -n 3
    rm -f "${reason_file}"
    exit 0
  fi
  reason="ml-100k is not in ${data_dir}/ml-100k and its download into ${cache} failed: $(echo "${output}" | tail -n 1)"
fi
printf '%s\n' "${reason}" >"${reason_file}"
echo "SKIPPED: ${reason}"
exit 77
