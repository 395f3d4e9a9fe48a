#include <cstring>

#include "kernels/cpu/cpu_backend.h"

namespace recblocks::kernels::cpu {

void CpuBackend::copy_matrix(const MatrixView& src, const MatrixView& dst, bool accumulate) {
  parallel_for(src.rows, src.cols, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r) {
      const float* s = src.data + r * src.stride;
      float* d = dst.data + r * dst.stride;
      if (accumulate) {
        for (std::int64_t c = 0; c < src.cols; ++c) d[c] += s[c];
      } else {
        std::memcpy(d, s, static_cast<std::size_t>(src.cols) * sizeof(float));
      }
    }
  });
}

void CpuBackend::transpose(const Tensor& x, int a0, int a1, const GradOut& y) {
  constexpr int kRank = Shape::kMaxRank;
  const Shape& s = x.shape();
  const int pad = kRank - s.rank();
  // Source strides of x, permuted to y's axis order, padded to kRank.
  std::int64_t dims[kRank], stride[kRank];
  std::int64_t st = 1;
  std::int64_t src_stride[kRank];
  for (int i = s.rank() - 1; i >= 0; --i) {
    src_stride[i] = st;
    st *= s[i];
  }
  for (int i = 0; i < kRank; ++i) {
    const int axis = i - pad;
    if (axis < 0) {
      dims[i] = 1;
      stride[i] = 0;
      continue;
    }
    const int from = axis == a0 ? a1 : axis == a1 ? a0 : axis;
    dims[i] = s[from];
    stride[i] = src_stride[from];
  }
  const float* px = x.data<float>();
  float* py = y.tensor.data<float>();
  const bool acc = y.accumulate;
  parallel_for(dims[0] * dims[1], dims[2] * dims[3], [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r) {
      const std::int64_t i0 = r / dims[1], i1 = r % dims[1];
      float* out = py + r * dims[2] * dims[3];
      for (std::int64_t i2 = 0; i2 < dims[2]; ++i2)
        for (std::int64_t i3 = 0; i3 < dims[3]; ++i3) {
          const float v = px[i0 * stride[0] + i1 * stride[1] + i2 * stride[2] + i3 * stride[3]];
          store(out + i2 * dims[3] + i3, v, acc);
        }
    }
  });
}

}  // namespace recblocks::kernels::cpu
