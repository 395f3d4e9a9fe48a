// Uses the installed recblocks: a tensor, its printout and one GEMM through
// the library's BLAS. run_consumer.cmake checks what this prints.
#include <recblocks/recblocks.h>

#include <cstdint>
#include <iostream>

int main() {
  namespace rb = recblocks;
  try {
    std::cout << "recblocks " << rb::kVersion << ", " << rb::num_threads() << " threads\n";

    const rb::Tensor a = rb::Tensor::from({2, 3}, {1, 2, 3, 4, 5, 6});
    std::cout << a << "\n";
    double sum = 0;
    for (std::int64_t i = 0; i < a.numel(); ++i) sum += a.item(i);
    std::cout << "sum of a: " << sum << "\n";

    const rb::Tensor b = rb::Tensor::from({3, 2}, {1, 2, 3, 4, 5, 6});
    const rb::Tensor c = rb::Tensor::zeros({2, 2});
    rb::kernels::backend().gemm(false, false, 1.0F, a, b, 0.0F, c);
    std::cout << "a @ b:";
    for (const float v : c.to_vector()) std::cout << " " << v;
    std::cout << "\n";
  } catch (const rb::Error& e) {
    std::cerr << "consumer: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
