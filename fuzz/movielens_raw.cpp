// libFuzzer target: the MovieLens raw readers (datasets::read_movielens:
// ml-100k's u.*, ml-1m's .dat, ml-25m's / ml-latest-small's .csv) and, for
// files that read, the get_movielens ETL (movielens_workflow: Categorify,
// target encoding) fitted on the rows. Input: one control byte, then the
// variant's files in movielens_files() order, separated by "\n----\n":
//   control bits 0-1: ml-100k (u.data, u.user, u.item, u.genre),
//                     ml-1m (ratings.dat, users.dat, movies.dat),
//                     ml-25m or ml-latest-small (ratings.csv, movies.csv)
#include "fuzz/fuzz_common.h"
#include "recblocks/data/movielens.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  recblocks::fuzz::initialize();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace fuzz = recblocks::fuzz;
  namespace ds = recblocks::datasets;
  if (size == 0) return 0;
  const std::string& variant = ds::movielens_variants().at(data[0] & 3);
  const std::vector<std::string> files = ds::movielens_files(variant);
  const auto parts =
      fuzz::split_parts({reinterpret_cast<const char*>(data) + 1, size - 1}, files.size());
  const auto dir = fuzz::scratch_dir() / variant;
  std::filesystem::create_directories(dir);
  for (std::size_t i = 0; i < files.size(); ++i) fuzz::write_file(dir / files[i], parts[i]);
  fuzz::expect_only_errors("movielens_raw", [&] {
    const recblocks::etl::RawTable table = ds::read_movielens(variant, dir);
    const std::int64_t rows = recblocks::etl::num_rows(table);
    recblocks::etl::Workflow workflow = ds::movielens_workflow(variant);
    const recblocks::Dataset out = workflow.fit_transform(table);
    if (out.num_rows() != rows) {
      std::fprintf(stderr, "\n==fuzz== movielens_raw: %lld raw rows, the ETL gives %lld\n",
                   static_cast<long long>(rows), static_cast<long long>(out.num_rows()));
      std::abort();
    }
  });
  return 0;
}
