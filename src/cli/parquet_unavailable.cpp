// The Parquet side of the CLI in a build without recblocks::parquet
// (RECBLOCKS_PARQUET found no pyarrow, or was OFF): every use is one error
// line saying how to get it.
#include "datasets.h"
#include "recblocks/core/error.h"

namespace recblocks::cli {
namespace {

constexpr const char* kRebuild =
    "built without Parquet support: rebuild with -DRECBLOCKS_PARQUET=ON after scripts/setup.sh "
    "installed pyarrow";

}  // namespace

bool parquet_available() { return false; }

void require_parquet(const std::string& what) {
  throw Error(what + ": this recblocks was " + kRebuild);
}

std::string parquet_info() { return std::string("off (") + kRebuild + ")"; }

Dataset read_parquet_input(const std::string& input, const datasets::ParquetReadOptions&,
                           std::FILE*) {
  require_parquet(input + ": Parquet data");
  return {};
}

DataSourcePtr parquet_source_input(const std::string& input, const datasets::ParquetReadOptions&,
                                   std::FILE*) {
  require_parquet(input + ": Parquet data");
  return {};
}

std::size_t write_parquet_output(const Dataset&, const std::filesystem::path& out,
                                 const datasets::ParquetWriteOptions&) {
  require_parquet(out.string() + ": Parquet output");
  return 0;
}

}  // namespace recblocks::cli
