// Uses the installed recblocks::parquet (when the installed build had it):
// a dataset written as Parquet and read back. run_consumer.cmake checks
// what this prints.
#include <recblocks/data/parquet.h>

#include <filesystem>
#include <iostream>

int main() {
  namespace rb = recblocks;
  try {
    const rb::Schema schema(
        {rb::ColumnSchema("id", rb::DType::kInt32, {rb::Tags::CATEGORICAL}).with_domain(0, 9)});
    const rb::Dataset data(
        schema, {{"id",
                  {rb::Tensor::from<std::int32_t>({3}, std::vector<std::int32_t>{7, 8, 9}),
                   rb::Tensor()}}});
    const auto dir = std::filesystem::temp_directory_path() / "recblocks_parquet_consumer";
    rb::datasets::write_parquet(data, dir);
    const rb::Dataset back = rb::datasets::read_parquet(dir.string());
    std::cout << "parquet: Arrow " << rb::datasets::arrow_version() << ", read back "
              << back.num_rows() << " rows, last id " << back.column("id").values.item(2) << "\n";
    std::filesystem::remove_all(dir);
  } catch (const rb::Error& e) {
    std::cerr << "parquet_consumer: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
