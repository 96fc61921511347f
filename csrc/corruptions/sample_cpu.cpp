// Bilinear sampling as scipy.ndimage.map_coordinates(order=1) (distortx/corruptions/common.py linear_sample, the
// resampling of elastic_transform): per output point, y0 = floor(y), fy = y - y0 (float32), the four neighbours
// mapped by the border mode, top = t00 (1 - fx) + t01 fx, bottom likewise, top (1 - fy) + bottom fy: the torch
// code's float32 operations in its order, so the same bits, without four gathers of the whole batch.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <cmath>

#include "corruptions/border.h"
#include "distort/cpu_rows.h"

namespace distortx {
namespace {

// One output row of Wo points (coordinates Y, X) for all C channels (output channel stride `area`). Compiled for AVX2
// and baseline x86-64 (GCC target_clones): AVX2 machines round with vroundss instead of calling floorf (the same bits).
DX_CLONES void sample_row(const float* in, const float* Y, const float* X, float* o, int64_t C, int64_t H, int64_t W,
                          int64_t area, int64_t Wo, int64_t mode) {
  for (int64_t xo = 0; xo < Wo; ++xo) {
    const float fy0 = std::floor(Y[xo]), fx0 = std::floor(X[xo]);
    const float fy = Y[xo] - fy0, fx = X[xo] - fx0;
    const int64_t y0 = (int64_t)fy0, x0 = (int64_t)fx0;
    // inside the image (most points), no border mapping (its modulo is most of the cost)
    const bool ry = y0 >= 0 && y0 + 1 < H, rx = x0 >= 0 && x0 + 1 < W;
    const int64_t r0 = (ry ? y0 : border_index(y0, H, mode)) * W;
    const int64_t r1 = ry ? r0 + W : border_index(y0 + 1, H, mode) * W;
    const int64_t c0 = rx ? x0 : border_index(x0, W, mode), c1 = rx ? x0 + 1 : border_index(x0 + 1, W, mode);
    for (int64_t c = 0; c < C; ++c) {
      const float* p = in + c * H * W;
      const float top = p[r0 + c0] * (1 - fx) + p[r0 + c1] * fx;
      const float bottom = p[r1 + c0] * (1 - fx) + p[r1 + c1] * fx;
      o[c * area + xo] = top * (1 - fy) + bottom * fy;
    }
  }
}

// x f32 [N, C, H, W]; ys, xs f32 [N, H', W'] (pixel coordinates) -> f32 [N, C, H', W'].
at::Tensor linear_sample_cpu(const at::Tensor& x_, const at::Tensor& ys_, const at::Tensor& xs_, int64_t mode) {
  TORCH_CHECK(x_.scalar_type() == at::kFloat && x_.dim() == 4 && x_.device().is_cpu(),
              "distortx.linear_sample: x must be a float32 CPU Tensor[N, C, H, W]");
  TORCH_CHECK(ys_.dim() == 3 && ys_.sizes() == xs_.sizes() && ys_.size(0) == x_.size(0) &&
                  ys_.scalar_type() == at::kFloat && xs_.scalar_type() == at::kFloat,
              "distortx.linear_sample: ys and xs must be float32 Tensor[N, H', W'] of one shape");
  TORCH_CHECK(mode >= 0 && mode <= 2, "distortx.linear_sample: mode 0 (nearest), 1 (reflect) or 2 (mirror)");
  const at::Tensor x = x_.contiguous(), ys = ys_.contiguous(), xs = xs_.contiguous();
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), Ho = ys.size(1), Wo = ys.size(2);
  at::Tensor out = at::empty({N, C, Ho, Wo}, x.options());
  if (out.numel() == 0) return out;
  const float* in = x.data_ptr<float>();
  const float* Y = ys.data_ptr<float>();
  const float* X = xs.data_ptr<float>();
  float* o = out.data_ptr<float>();
  const int64_t area = Ho * Wo;
  at::parallel_for(0, N * Ho, 1, [&](int64_t a, int64_t b) {
    for (int64_t t = a; t < b; ++t) {
      const int64_t n = t / Ho, yo = t % Ho;
      sample_row(in + n * C * H * W, Y + n * area + yo * Wo, X + n * area + yo * Wo, o + n * C * area + yo * Wo, C, H, W,
                 area, Wo, mode);
    }
  });
  return out;
}

}  // namespace
}  // namespace distortx

TORCH_LIBRARY_IMPL(distortx, CPU, m) { m.impl("linear_sample", &distortx::linear_sample_cpu); }
