// libFuzzer target: the Parquet reader (datasets::ParquetReader). The input
// is the Parquet file, read alone from a scratch directory (so its schema is
// inferred: the column statistics or a scan give the domains), row group by
// row group and whole; every byte of every tensor is touched, and a dataset
// that reads must survive write_parquet -> read_parquet unchanged.
//
// Arrow's own code (libarrow, libparquet from the pyarrow wheel) is not
// built with the sanitizers or coverage: ASan and UBSan check recblocks'
// code around it, and libFuzzer steers by recblocks' branches only. A
// memory limit of 512 MiB makes a row group that claims more be refused
// (MemoryLimitError) before Arrow decodes it.
#include "recblocks/data/parquet.h"

#include "fuzz/fuzz_common.h"
#include "recblocks/core/memory.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  recblocks::fuzz::initialize();
  recblocks::set_memory_limit(std::size_t{512} << 20);
  return 0;
}

namespace {

namespace fuzz = recblocks::fuzz;

bool same_dataset(const recblocks::Dataset& a, const recblocks::Dataset& b) {
  if (!(a.schema() == b.schema()) || a.num_rows() != b.num_rows()) return false;
  for (const auto& [name, column] : a.columns()) {
    const recblocks::Column& other = b.column(name);
    if (!fuzz::same_tensor(column.values, other.values)) return false;
    if (column.is_list() != other.is_list()) return false;
    if (column.is_list() && !fuzz::same_tensor(column.offsets, other.offsets)) return false;
  }
  return true;
}

unsigned touch(const recblocks::Dataset& d) {
  unsigned sum = 0;
  for (const auto& [name, column] : d.columns()) {
    sum += fuzz::touch(column.values);
    if (column.is_list()) sum += fuzz::touch(column.offsets);
  }
  return sum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace ds = recblocks::datasets;
  const auto dir = fuzz::scratch_dir() / "in";
  std::filesystem::create_directories(dir);
  const auto path = dir / "part_0.parquet";
  fuzz::write_file(path, {reinterpret_cast<const char*>(data), size});
  fuzz::expect_only_errors("parquet", [&] {
    const ds::ParquetReader reader(path.string());
    volatile unsigned sink = 0;
    for (int rg = 0; rg < reader.num_row_groups(0); ++rg)
      sink = sink + touch(reader.read_row_group(0, rg));
    const recblocks::Dataset whole = reader.read();
    sink = sink + touch(whole);
    const auto out = fuzz::scratch_dir() / "out";
    ds::write_parquet(whole, out, {.row_group_size = 7});
    if (!same_dataset(whole, ds::read_parquet(out.string()))) {
      std::fprintf(stderr,
                   "\n==fuzz== parquet: write_parquet -> read_parquet changed the dataset\n");
      std::abort();
    }
  });
  return 0;
}
