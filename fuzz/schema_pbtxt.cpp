// libFuzzer target: Schema::load of a schema.pbtxt (Merlin's protobuf text
// format, src/schema/text_proto.h). The input is the file. A schema that
// loads must survive, unchanged, Merlin's two forms written and read back
// (to_merlin_pbtxt -> from_merlin_pbtxt, to_merlin_json -> from_json) and
// recblocks' own (to_json -> from_json). Writing may refuse what Merlin
// cannot hold (a ValueError, as for a bad input).
#include "fuzz/fuzz_common.h"
#include "recblocks/schema/schema.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  recblocks::fuzz::initialize();
  return 0;
}

namespace {

void expect_same(const recblocks::Schema& a, const recblocks::Schema& b, const char* trip) {
  if (!(a == b)) {
    std::fprintf(stderr, "\n==fuzz== schema_pbtxt: %s changed the schema\n", trip);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace fuzz = recblocks::fuzz;
  using recblocks::Schema;
  const auto path = fuzz::scratch_dir() / "schema.pbtxt";
  fuzz::write_file(path, {reinterpret_cast<const char*>(data), size});
  fuzz::expect_only_errors("schema_pbtxt", [&] {
    const Schema schema = Schema::load(path);
    expect_same(Schema::from_json(schema.to_json()), schema, "to_json -> from_json");
    const std::string text = schema.to_merlin_pbtxt();
    expect_same(Schema::from_merlin_pbtxt(text), schema, "to_merlin_pbtxt -> from_merlin_pbtxt");
    const auto json = nlohmann::json::parse(schema.to_merlin_json().dump());
    expect_same(Schema::from_json(json), schema, "to_merlin_json -> from_json");
  });
  return 0;
}
