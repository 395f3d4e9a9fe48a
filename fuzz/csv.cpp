// libFuzzer target: the CSV/TSV importer (CsvSpec::load, datasets::csv) and,
// for an input that imports, CsvTransform::load + transform of the same
// file (what serving does with new rows). Input: one control byte, then the
// schema file, "\n----\n", then the CSV file.
//   control bit 0: a validation split (valid_fraction 0.25)
//   bit 1:         override the delimiter with '\t'; bit 2: header off;
//   bit 3:         quoting off
#include "recblocks/data/csv.h"

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
  const auto parts = fuzz::split_parts({reinterpret_cast<const char*>(data) + 1, size - 1}, 2);
  const auto spec_path = fuzz::scratch_dir() / "events.schema.json";
  const auto csv_path = fuzz::scratch_dir() / "events.csv";
  fuzz::write_file(spec_path, parts[0]);
  fuzz::write_file(csv_path, parts[1]);
  ds::CsvOptions options;
  if ((control & 1) != 0) options.valid_fraction = 0.25;
  if ((control & 2) != 0) options.delimiter = '\t';
  if ((control & 4) != 0) options.header = false;
  if ((control & 8) != 0) options.quote = '\0';
  fuzz::expect_only_errors("csv", [&] {
    const ds::CsvSpec spec = ds::CsvSpec::load(spec_path);
    const auto out = fuzz::scratch_dir() / "out";
    const ds::CsvResult result = ds::csv(csv_path, spec, out, options);
    const std::int64_t rows = result.train.num_rows() + result.valid.num_rows();
    const ds::CsvTransform transform = ds::CsvTransform::load(result.etl_dir);
    const recblocks::Dataset again = transform.transform(csv_path);
    if (again.num_rows() != rows) {
      std::fprintf(stderr, "\n==fuzz== csv: imported %lld rows, the transform gives %lld\n",
                   static_cast<long long>(rows), static_cast<long long>(again.num_rows()));
      std::abort();
    }
  });
  return 0;
}
