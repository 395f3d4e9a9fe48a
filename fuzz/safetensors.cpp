// libFuzzer target: io::read_safetensors (a model's weights and an
// optimizer's state). The input is the file. Every byte of every tensor
// that reads is touched, and the file must survive write_safetensors ->
// read_safetensors unchanged (same names, dtypes, shapes, bytes, metadata).
#include "recblocks/io/safetensors.h"

#include "fuzz/fuzz_common.h"

namespace {

bool same(const recblocks::io::SafetensorsFile& a, const recblocks::io::SafetensorsFile& b) {
  if (a.metadata != b.metadata || a.tensors.size() != b.tensors.size()) return false;
  for (auto i = a.tensors.begin(), j = b.tensors.begin(); i != a.tensors.end(); ++i, ++j) {
    const recblocks::Tensor& x = i->second;
    const recblocks::Tensor& y = j->second;
    if (i->first != j->first || !recblocks::fuzz::same_tensor(x, y)) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  recblocks::fuzz::initialize();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace fuzz = recblocks::fuzz;
  const auto path = fuzz::scratch_dir() / "input.safetensors";
  fuzz::write_file(path, {reinterpret_cast<const char*>(data), size});
  fuzz::expect_only_errors("safetensors", [&] {
    const recblocks::io::SafetensorsFile file = recblocks::io::read_safetensors(path);
    unsigned sum = 0;
    for (const auto& [name, tensor] : file.tensors) sum += fuzz::touch(tensor);
    volatile unsigned sink = sum;
    (void)sink;
    const auto again = fuzz::scratch_dir() / "again.safetensors";
    recblocks::io::write_safetensors(again, file.tensors, file.metadata);
    if (!same(file, recblocks::io::read_safetensors(again))) {
      std::fprintf(stderr, "\n==fuzz== safetensors: write -> read changed the file's tensors\n");
      std::abort();
    }
  });
  return 0;
}
