// libFuzzer target: the Criteo reader (datasets::read_criteo) and, for an
// input that reads, the whole import (datasets::criteo: Categorify, split,
// dataset directory). Input: one control byte, then the raw file.
//   control bits 0-1: format (auto, tsv, csv; 3 = auto)
//   bits 2-3:         threads - 1 (the reader parses line-aligned chunks in parallel)
//   bit 4:            max_rows = 3
//   bit 5:            a validation split (valid_fraction 0.5)
//   bit 6:            min_frequency 2, bit 7: 4 hash buckets
#include "recblocks/data/criteo.h"

#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  recblocks::fuzz::initialize();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace fuzz = recblocks::fuzz;
  namespace ds = recblocks::datasets;
  if (size == 0) return 0;
  const std::uint8_t control = data[0];
  const auto path = fuzz::scratch_dir() / "day_0.tsv";
  fuzz::write_file(path, {reinterpret_cast<const char*>(data) + 1, size - 1});
  static constexpr ds::CriteoFormat kFormats[] = {ds::CriteoFormat::kAuto, ds::CriteoFormat::kTsv,
                                                  ds::CriteoFormat::kCsv, ds::CriteoFormat::kAuto};
  ds::CriteoOptions options;
  options.format = kFormats[control & 3];
  options.max_rows = (control & 16) != 0 ? 3 : 0;
  options.valid_fraction = (control & 32) != 0 ? 0.5 : 0.0;
  options.min_frequency = (control & 64) != 0 ? 2 : 1;
  options.num_buckets = (control & 128) != 0 ? 4 : 0;
  recblocks::set_num_threads(1 + ((control >> 2) & 3));
  fuzz::expect_only_errors("criteo", [&] {
    const ds::CriteoRaw raw = ds::read_criteo(path, options.format, options.max_rows);
    const auto rows = static_cast<std::size_t>(raw.rows());
    bool consistent = options.max_rows == 0 || raw.rows() <= options.max_rows;
    for (const auto& column : raw.dense) consistent = consistent && column.size() == rows;
    for (const auto& column : raw.categorical) consistent = consistent && column.size() == rows;
    for (const auto& column : raw.is_null) consistent = consistent && column.size() == rows;
    if (!consistent) {
      std::fprintf(stderr, "\n==fuzz== criteo: columns of different lengths (%zu rows)\n", rows);
      std::abort();
    }
    const ds::CriteoResult result = ds::criteo({path}, fuzz::scratch_dir() / "out", options);
    if (result.train.num_rows() + result.valid.num_rows() != raw.rows()) {
      std::fprintf(stderr, "\n==fuzz== criteo: read %zu rows, imported %lld\n", rows,
                   static_cast<long long>(result.train.num_rows() + result.valid.num_rows()));
      std::abort();
    }
  });
  return 0;
}
