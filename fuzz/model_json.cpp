// libFuzzer target: Model::load's model.json (the architecture as Block
// JSON, the tasks, the compile settings). The input is model.json; the
// model directory around it holds a fixed schema.json and
// weights.safetensors (fuzz/fixtures/model_json/: a small DLRM, whose own
// model.json is the seed fuzz/corpus/model_json/dlrm.json). Inputs with
// another architecture get as far as building the model and checking the
// weights against it.
#include "fuzz/fuzz_common.h"
#include "recblocks/model/model.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  recblocks::fuzz::initialize();
  namespace fs = std::filesystem;
  const fs::path fixture = RECBLOCKS_FUZZ_FIXTURES "/model_json";
  const fs::path dir = recblocks::fuzz::scratch_dir() / "model";
  fs::create_directories(dir);
  for (const char* name : {"schema.json", "weights.safetensors"}) {
    fs::copy_file(fixture / name, dir / name, fs::copy_options::overwrite_existing);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace fuzz = recblocks::fuzz;
  const auto dir = fuzz::scratch_dir() / "model";
  fuzz::write_file(dir / "model.json", {reinterpret_cast<const char*>(data), size});
  fuzz::expect_only_errors("model_json", [&] {
    const recblocks::Model model = recblocks::Model::load(dir);
    if (model.summary().empty()) {
      std::fprintf(stderr, "\n==fuzz== model_json: a loaded model with an empty summary\n");
      std::abort();
    }
  });
  return 0;
}
