// The tile kernels compiled for baseline (flags in src/CMakeLists.txt).
#define RB_TILE_NS tiles_base
#define RB_TILE_NAME "baseline"
#include "kernels/cpu/gemm_tiles_impl.h"
