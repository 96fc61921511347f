// Bilinear sampling as scipy.ndimage.map_coordinates(order=1) (distortx/corruptions/common.py linear_sample, the
// resampling of elastic_transform): per output point, y0 = floor(y), fy = y - y0 (float32), the four neighbours
// mapped by the border mode, top = t00 (1 - fx) + t01 fx, bottom likewise, top (1 - fy) + bottom fy: the torch
// code's float32 operations in its order, so the same bits, without four gathers of the whole batch.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <cmath>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "corruptions/border.h"
#include "distort/cpu_rows.h"

namespace distortx {
namespace {

// Output points [from, to) of one row (coordinates Y, X) for all C channels (output channel stride `area`).
// Compiled for AVX2 and baseline x86-64 (GCC target_clones): AVX2 machines round with vroundss instead of calling
// floorf (the same bits).
DX_CLONES void sample_points(const float* in, const float* Y, const float* X, float* o, int64_t C, int64_t H, int64_t W,
                             int64_t area, int64_t from, int64_t to, int64_t mode) {
  for (int64_t xo = from; xo < to; ++xo) {
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

#if defined(__GNUC__) && defined(__x86_64__)
// 16 points at a time where all 16 have their four neighbours inside the image: the scalar code's float32
// operations lane by lane (floor by roundscale, products and sums unfused), the neighbours by gathers; a block
// with a point near or outside the border (or a NaN coordinate) goes through sample_points.
__attribute__((target("avx512f"))) void sample_row_avx512(const float* in, const float* Y, const float* X, float* o,
                                                          int64_t C, int64_t H, int64_t W, int64_t area, int64_t Wo,
                                                          int64_t mode) {
  const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
  const __m512 ylim = _mm512_set1_ps((float)(H - 1)), xlim = _mm512_set1_ps((float)(W - 1));
  const __m512i w = _mm512_set1_epi32((int)W);
  int64_t xo = 0;
  for (; xo + 16 <= Wo; xo += 16) {
    const __m512 y = _mm512_loadu_ps(Y + xo), x = _mm512_loadu_ps(X + xo);
    const __m512 fy0 = _mm512_roundscale_ps(y, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    const __m512 fx0 = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    // 0 <= y0 and y0 + 1 < H  <=>  0 <= fy0 < H - 1 (ordered compares: NaN fails)
    const __mmask16 inside = _mm512_cmp_ps_mask(fy0, zero, _CMP_GE_OQ) & _mm512_cmp_ps_mask(fy0, ylim, _CMP_LT_OQ) &
                             _mm512_cmp_ps_mask(fx0, zero, _CMP_GE_OQ) & _mm512_cmp_ps_mask(fx0, xlim, _CMP_LT_OQ);
    if (inside != 0xFFFF) {
      sample_points(in, Y, X, o, C, H, W, area, xo, xo + 16, mode);
      continue;
    }
    const __m512 fy = _mm512_sub_ps(y, fy0), fx = _mm512_sub_ps(x, fx0);
    const __m512 gy = _mm512_sub_ps(one, fy), gx = _mm512_sub_ps(one, fx);
    const __m512i i00 = _mm512_add_epi32(_mm512_mullo_epi32(_mm512_cvttps_epi32(fy0), w), _mm512_cvttps_epi32(fx0));
    const __m512i i01 = _mm512_add_epi32(i00, _mm512_set1_epi32(1));
    const __m512i i10 = _mm512_add_epi32(i00, w), i11 = _mm512_add_epi32(i10, _mm512_set1_epi32(1));
    for (int64_t c = 0; c < C; ++c) {
      const float* p = in + c * H * W;
      const __m512 top = _mm512_add_ps(_mm512_mul_ps(_mm512_i32gather_ps(i00, p, 4), gx),
                                       _mm512_mul_ps(_mm512_i32gather_ps(i01, p, 4), fx));
      const __m512 bottom = _mm512_add_ps(_mm512_mul_ps(_mm512_i32gather_ps(i10, p, 4), gx),
                                          _mm512_mul_ps(_mm512_i32gather_ps(i11, p, 4), fx));
      _mm512_storeu_ps(o + c * area + xo, _mm512_add_ps(_mm512_mul_ps(top, gy), _mm512_mul_ps(bottom, fy)));
    }
  }
  sample_points(in, Y, X, o, C, H, W, area, xo, Wo, mode);
}
#endif

// One output row of Wo points; AVX-512 blocks where the CPU has them and a plane's indices fit in int32.
void sample_row(const float* in, const float* Y, const float* X, float* o, int64_t C, int64_t H, int64_t W,
                int64_t area, int64_t Wo, int64_t mode) {
#if defined(__GNUC__) && defined(__x86_64__)
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (avx512 && H * W < (int64_t{1} << 31) && H < (1 << 24) && W < (1 << 24)) return sample_row_avx512(in, Y, X, o, C, H, W, area, Wo, mode);
#endif
  sample_points(in, Y, X, o, C, H, W, area, 0, Wo, mode);
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
