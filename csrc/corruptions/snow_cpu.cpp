// ImageNet-C snow's last step (distortx/corruptions/weather.py snow), in the torch code's float32 operations and
// order, so the same bits, in one pass instead of a dozen whole-image torch ops:
//   grey = 0.299 R + 0.587 G + 0.114 B          (each product rounded, added left to right; a grey image is itself)
//   y    = keep x + (1 - keep) max(x, grey 1.5 + 0.5)
//   L    = round(255 streaks) / 255             (round half to even)
//   out  = clamp(y + L + L rotated by 180 degrees, 0, 1)
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace distortx {
namespace {

// One output row of one plane: x, the row's brightened grey (`bright`), L of the row and of its 180-degree partner
// (read backwards). Compiled for AVX-512, AVX2 and baseline x86-64 (the same IEEE operations in every clone).
__attribute__((target_clones("avx512f", "avx2", "default"))) void blend_row(float* __restrict o, const float* __restrict x,
                                                                            const float* __restrict bright,
                                                                            const float* __restrict l,
                                                                            const float* __restrict l_rev, float keep,
                                                                            float rest, int64_t w) {
  for (int64_t k = 0; k < w; ++k) {
    const float m = x[k] < bright[k] ? bright[k] : x[k];
    const float y = keep * x[k] + rest * m;
    const float v = (y + l[k]) + l_rev[w - 1 - k];
    o[k] = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
  }
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void quantised_row(float* __restrict l,
                                                                                const float* __restrict s, int64_t w) {
  for (int64_t k = 0; k < w; ++k) l[k] = std::nearbyint(s[k] * 255.0f) / 255.0f;
}

at::Tensor snow_blend_cpu(const at::Tensor& x_, const at::Tensor& streaks_, double keep_) {
  TORCH_CHECK(x_.scalar_type() == at::kFloat && x_.dim() == 4 && x_.device().is_cpu() && (x_.size(1) == 1 || x_.size(1) == 3),
              "distortx.snow_blend: x must be a float32 CPU Tensor[N, C, H, W] with C 1 or 3");
  TORCH_CHECK(streaks_.scalar_type() == at::kFloat && streaks_.dim() == 4 && streaks_.size(0) == x_.size(0) &&
                  streaks_.size(1) == 1 && streaks_.size(2) == x_.size(2) && streaks_.size(3) == x_.size(3),
              "distortx.snow_blend: streaks must be a float32 Tensor[N, 1, H, W] of x's N, H, W");
  const at::Tensor x = x_.contiguous(), streaks = streaks_.contiguous();
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), area = H * W;
  at::Tensor out = at::empty_like(x);
  if (x.numel() == 0) return out;
  const float keep = (float)keep_, rest = (float)(1.0 - keep_);  // Python's 1 - keep in double, then float32
  const float* in = x.data_ptr<float>();
  const float* st = streaks.data_ptr<float>();
  float* o = out.data_ptr<float>();
  at::parallel_for(0, N, 1, [&](int64_t a, int64_t b) {
    std::vector<float> l((size_t)area), bright((size_t)W);
    for (int64_t n = a; n < b; ++n) {
      quantised_row(l.data(), st + n * area, area);
      const float* img = in + n * C * area;
      for (int64_t y = 0; y < H; ++y) {
        const float* lrow = l.data() + y * W;
        const float* lrev = l.data() + (H - 1 - y) * W;
        if (C == 3) {
          const float *r = img + y * W, *g = r + area, *bl = g + area;
          for (int64_t k = 0; k < W; ++k) {
            const float grey = (0.299f * r[k] + 0.587f * g[k]) + 0.114f * bl[k];
            bright[k] = grey * 1.5f + 0.5f;
          }
        } else {
          const float* v = img + y * W;
          for (int64_t k = 0; k < W; ++k) bright[k] = v[k] * 1.5f + 0.5f;
        }
        for (int64_t c = 0; c < C; ++c)
          blend_row(o + (n * C + c) * area + y * W, img + c * area + y * W, bright.data(), lrow, lrev, keep, rest, W);
      }
    }
  });
  return out;
}

}  // namespace
}  // namespace distortx

TORCH_LIBRARY_IMPL(distortx, CPU, m) { m.impl("snow_blend", &distortx::snow_blend_cpu); }
