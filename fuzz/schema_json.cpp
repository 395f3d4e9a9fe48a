// libFuzzer target: Schema::load (a dataset's or a model's schema.json, in
// recblocks' format or Merlin's proto-JSON). The input is the file. A schema
// that loads must survive to_json -> from_json unchanged.
#include "fuzz/fuzz_common.h"
#include "recblocks/schema/schema.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  recblocks::fuzz::initialize();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace fuzz = recblocks::fuzz;
  const auto path = fuzz::scratch_dir() / "schema.json";
  fuzz::write_file(path, {reinterpret_cast<const char*>(data), size});
  fuzz::expect_only_errors("schema_json", [&] {
    const recblocks::Schema schema = recblocks::Schema::load(path);
    if (!(recblocks::Schema::from_json(schema.to_json()) == schema)) {
      std::fprintf(stderr, "\n==fuzz== schema_json: to_json -> from_json changed the schema\n");
      std::abort();
    }
  });
  return 0;
}
