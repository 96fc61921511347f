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

#include "corruptions/unit.h"

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

// One output row y of sample n: x's C rows (x_rows[c] -> W floats) blended with the row's flakes into out_rows[c].
void blend_image_row(const float* const* x_rows, float* const* out_rows, const float* l, int64_t C, int64_t H,
                     int64_t W, int64_t y, float keep, float rest, float* bright) {
  if (C == 3) {
    const float *r = x_rows[0], *g = x_rows[1], *bl = x_rows[2];
    for (int64_t k = 0; k < W; ++k) {
      const float grey = (0.299f * r[k] + 0.587f * g[k]) + 0.114f * bl[k];
      bright[k] = grey * 1.5f + 0.5f;
    }
  } else {
    for (int64_t k = 0; k < W; ++k) bright[k] = x_rows[0][k] * 1.5f + 0.5f;
  }
  for (int64_t c = 0; c < C; ++c)
    blend_row(out_rows[c], x_rows[c], bright, l + y * W, l + (H - 1 - y) * W, keep, rest, W);
}

void check_streaks(const at::Tensor& x, const at::Tensor& streaks, const char* op) {
  TORCH_CHECK(x.dim() == 4 && x.device().is_cpu() && (x.size(1) == 1 || x.size(1) == 3),
              "distortx.", op, ": x must be a CPU Tensor[N, C, H, W] with C 1 or 3");
  TORCH_CHECK(streaks.scalar_type() == at::kFloat && streaks.dim() == 4 && streaks.size(0) == x.size(0) &&
                  streaks.size(1) == 1 && streaks.size(2) == x.size(2) && streaks.size(3) == x.size(3),
              "distortx.", op, ": streaks must be a float32 Tensor[N, 1, H, W] of x's N, H, W");
}

at::Tensor snow_blend_cpu(const at::Tensor& x_, const at::Tensor& streaks_, double keep_) {
  TORCH_CHECK(x_.scalar_type() == at::kFloat, "distortx.snow_blend: x must be float32");
  check_streaks(x_, streaks_, "snow_blend");
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
      for (int64_t y = 0; y < H; ++y) {
        const float* x_rows[3];
        float* out_rows[3];
        for (int64_t c = 0; c < C; ++c)
          x_rows[c] = in + (n * C + c) * area + y * W, out_rows[c] = o + (n * C + c) * area + y * W;
        blend_image_row(x_rows, out_rows, l.data(), C, H, W, y, keep, rest, bright.data());
      }
    }
  });
  return out;
}

// The same on a uint8 image (any layout; the result in x's layout) -> uint8 truncated as corrupt() truncates the
// float form's result: rows read as v / 255 and written as unit_to_u8 writes them, so the same bytes.
at::Tensor snow_blend_u8_cpu(const at::Tensor& x_, const at::Tensor& streaks_, double keep_) {
  TORCH_CHECK(x_.scalar_type() == at::kByte, "distortx.snow_blend_u8: x must be uint8");
  check_streaks(x_, streaks_, "snow_blend_u8");
  const int64_t N = x_.size(0), C = x_.size(1), H = x_.size(2), W = x_.size(3), area = H * W;
  const U8Batch batch = u8_batch(x_);
  const at::Tensor& x = batch.x;
  const bool last = batch.last;
  const at::Tensor streaks = streaks_.contiguous();
  at::Tensor out = empty_u8_like(batch);
  if (x.numel() == 0) return out;
  const float keep = (float)keep_, rest = (float)(1.0 - keep_);
  const uint8_t* in = x.data_ptr<uint8_t>();
  const float* st = streaks.data_ptr<float>();
  uint8_t* o = out.data_ptr<uint8_t>();
  at::parallel_for(0, N, 1, [&](int64_t a, int64_t b) {
    std::vector<float> l((size_t)area), bright((size_t)W), rows((size_t)(2 * C * W));
    for (int64_t n = a; n < b; ++n) {
      quantised_row(l.data(), st + n * area, area);
      for (int64_t y = 0; y < H; ++y) {
        const float* x_rows[3];
        float* out_rows[3];
        for (int64_t c = 0; c < C; ++c) x_rows[c] = rows.data() + c * W, out_rows[c] = rows.data() + (C + c) * W;
        read_unit_row(in + n * C * area, last, C, H, W, y, rows.data());
        blend_image_row(x_rows, out_rows, l.data(), C, H, W, y, keep, rest, bright.data());
        write_u8_row(rows.data() + C * W, last, C, H, W, y, o + n * C * area);
      }
    }
  });
  return out;
}

}  // namespace
}  // namespace distortx

TORCH_LIBRARY_IMPL(distortx, CPU, m) {
  m.impl("snow_blend", &distortx::snow_blend_cpu);
  m.impl("snow_blend_u8", &distortx::snow_blend_u8_cpu);
}
