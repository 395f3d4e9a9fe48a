// The tile kernels compiled for avx2 (flags in src/CMakeLists.txt).
#define RB_TILE_NS tiles_avx2
#define RB_TILE_NAME "avx2"
#include "kernels/cpu/gemm_tiles_impl.h"
