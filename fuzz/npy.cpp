// libFuzzer target: io::read_npy (a dataset's column files). The input is
// the .npy file. Read both ways (memory-mapped and copied); every byte of a
// tensor that reads is touched, and it must survive write_npy -> read_npy
// unchanged (same dtype, shape and bytes).
#include "recblocks/io/npy.h"

#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  recblocks::fuzz::initialize();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace fuzz = recblocks::fuzz;
  const auto path = fuzz::scratch_dir() / "input.npy";
  fuzz::write_file(path, {reinterpret_cast<const char*>(data), size});
  fuzz::expect_only_errors("npy", [&] {
    const recblocks::Tensor mapped = recblocks::io::read_npy(path, /*memory_map=*/true);
    const recblocks::Tensor copied = recblocks::io::read_npy(path, /*memory_map=*/false);
    volatile unsigned sink = fuzz::touch(mapped) + fuzz::touch(copied);
    (void)sink;
    if (!fuzz::same_tensor(mapped, copied)) {
      std::fprintf(stderr, "\n==fuzz== npy: the mapped and the copied read differ\n");
      std::abort();
    }
    const auto again_path = fuzz::scratch_dir() / "again.npy";
    recblocks::io::write_npy(again_path, copied);
    if (!fuzz::same_tensor(copied, recblocks::io::read_npy(again_path, false))) {
      std::fprintf(stderr, "\n==fuzz== npy: write_npy -> read_npy changed the tensor\n");
      std::abort();
    }
  });
  return 0;
}
