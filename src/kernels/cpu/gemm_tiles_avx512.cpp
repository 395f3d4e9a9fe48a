// The tile kernels compiled for avx512 (flags in src/CMakeLists.txt).
#define RB_TILE_NS tiles_avx512
#define RB_TILE_NAME "avx512"
#include "kernels/cpu/gemm_tiles_impl.h"
