// OpenCV filter2D-style correlation of every channel with one k x k kernel (distortx/corruptions/common.py
// conv_same): each plane padded once by the border mode, then out = 0 and out += w * (the padded plane shifted by
// the tap) for every non-zero tap in row-major order. torch's add_(other, alpha) is a float32 fused multiply-add,
// so this is fmaf in the same order: the torch code's bits, each output kept in a register across all its taps.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "corruptions/border.h"

namespace distortx {
namespace {

// One output row: o[j] = the fmaf chain over the taps in order, from 0 (o[j] = fmaf(w[t], src[offset[t] + j], o[j])),
// for j < W. The vector forms keep 64 / 32 outputs in four registers across every tap; a lane's fused multiply-add rounds
// as fmaf does, so all three forms give the same bits.
void correlate_row_scalar(float* o, const float* src, const float* w, const int64_t* offset, int64_t taps, int64_t j0,
                          int64_t W) {
  for (int64_t j = j0; j < W; ++j) {
    float acc = 0.0f;
    for (int64_t t = 0; t < taps; ++t) acc = std::fma(w[t], src[offset[t] + j], acc);
    o[j] = acc;
  }
}

__attribute__((target("avx512f"))) void correlate_row_avx512(float* o, const float* src, const float* w,
                                                             const int64_t* offset, int64_t taps, int64_t W) {
  int64_t j = 0;
  for (; j + 64 <= W; j += 64) {  // four independent chains: the FMA's latency hidden
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t t = 0; t < taps; ++t) {
      const __m512 wt = _mm512_set1_ps(w[t]);
      const float* s = src + offset[t] + j;
      a0 = _mm512_fmadd_ps(wt, _mm512_loadu_ps(s), a0);
      a1 = _mm512_fmadd_ps(wt, _mm512_loadu_ps(s + 16), a1);
      a2 = _mm512_fmadd_ps(wt, _mm512_loadu_ps(s + 32), a2);
      a3 = _mm512_fmadd_ps(wt, _mm512_loadu_ps(s + 48), a3);
    }
    _mm512_storeu_ps(o + j, a0);
    _mm512_storeu_ps(o + j + 16, a1);
    _mm512_storeu_ps(o + j + 32, a2);
    _mm512_storeu_ps(o + j + 48, a3);
  }
  for (; j + 16 <= W; j += 16) {
    __m512 acc = _mm512_setzero_ps();
    for (int64_t t = 0; t < taps; ++t)
      acc = _mm512_fmadd_ps(_mm512_set1_ps(w[t]), _mm512_loadu_ps(src + offset[t] + j), acc);
    _mm512_storeu_ps(o + j, acc);
  }
  correlate_row_scalar(o, src, w, offset, taps, j, W);
}

__attribute__((target("avx2,fma"))) void correlate_row_avx2(float* o, const float* src, const float* w,
                                                            const int64_t* offset, int64_t taps, int64_t W) {
  int64_t j = 0;
  for (; j + 32 <= W; j += 32) {  // four independent chains: the FMA's latency hidden
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t t = 0; t < taps; ++t) {
      const __m256 wt = _mm256_set1_ps(w[t]);
      const float* s = src + offset[t] + j;
      a0 = _mm256_fmadd_ps(wt, _mm256_loadu_ps(s), a0);
      a1 = _mm256_fmadd_ps(wt, _mm256_loadu_ps(s + 8), a1);
      a2 = _mm256_fmadd_ps(wt, _mm256_loadu_ps(s + 16), a2);
      a3 = _mm256_fmadd_ps(wt, _mm256_loadu_ps(s + 24), a3);
    }
    _mm256_storeu_ps(o + j, a0);
    _mm256_storeu_ps(o + j + 8, a1);
    _mm256_storeu_ps(o + j + 16, a2);
    _mm256_storeu_ps(o + j + 24, a3);
  }
  for (; j + 8 <= W; j += 8) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t t = 0; t < taps; ++t)
      acc = _mm256_fmadd_ps(_mm256_set1_ps(w[t]), _mm256_loadu_ps(src + offset[t] + j), acc);
    _mm256_storeu_ps(o + j, acc);
  }
  correlate_row_scalar(o, src, w, offset, taps, j, W);
}

using RowFn = void (*)(float*, const float*, const float*, const int64_t*, int64_t, int64_t);

RowFn pick_row_fn() {
  if (__builtin_cpu_supports("avx512f")) return correlate_row_avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return correlate_row_avx2;
  return [](float* o, const float* src, const float* w, const int64_t* offset, int64_t taps, int64_t W) {
    correlate_row_scalar(o, src, w, offset, taps, 0, W);
  };
}

// x f32 [N, C, H, W]; kernel f32 [k, k] (k odd); mode: border.h's (0 nearest, 1 reflect, 2 mirror) -> f32 [N, C, H, W]
at::Tensor correlate2d_cpu(const at::Tensor& x_, const at::Tensor& kernel_, int64_t mode) {
  TORCH_CHECK(x_.scalar_type() == at::kFloat && x_.dim() == 4 && x_.device().is_cpu(),
              "distortx.correlate2d: x must be a float32 CPU Tensor[N, C, H, W]");
  TORCH_CHECK(kernel_.dim() == 2 && kernel_.size(0) == kernel_.size(1) && kernel_.size(0) % 2 == 1,
              "distortx.correlate2d: kernel must be Tensor[k, k] with k odd");
  TORCH_CHECK(mode >= 0 && mode <= 2, "distortx.correlate2d: mode must be 0 (nearest), 1 (reflect) or 2 (mirror)");
  const at::Tensor x = x_.contiguous(), kernel = kernel_.to(at::kCPU, at::kFloat).contiguous();
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), k = kernel.size(0), r = (k - 1) / 2;
  at::Tensor out = at::empty_like(x);
  if (x.numel() == 0) return out;
  const float* kw = kernel.data_ptr<float>();
  const int64_t HP = H + 2 * r, WP = W + 2 * r;
  std::vector<float> weights;  // the non-zero taps, row-major, and where each reads in the padded plane
  std::vector<int64_t> offsets;
  for (int64_t t = 0; t < k * k; ++t)
    if (kw[t] != 0.0f) weights.push_back(kw[t]), offsets.push_back((t / k) * WP + t % k);
  std::vector<int64_t> rows((size_t)HP), cols((size_t)WP);
  for (int64_t i = 0; i < HP; ++i) rows[i] = border_index(i - r, H, (int)mode);
  for (int64_t j = 0; j < WP; ++j) cols[j] = border_index(j - r, W, (int)mode);
  const float* in = x.data_ptr<float>();
  float* o = out.data_ptr<float>();
  static const RowFn row_fn = pick_row_fn();
  at::parallel_for(0, N * C, 1, [&](int64_t a, int64_t b) {
    std::vector<float> padded((size_t)(HP * WP));
    for (int64_t p = a; p < b; ++p) {
      const float* src = in + p * H * W;
      for (int64_t i = 0; i < HP; ++i) {
        const float* row = src + rows[i] * W;
        float* dst = padded.data() + i * WP;
        for (int64_t j = 0; j < WP; ++j) dst[j] = row[cols[j]];
      }
      float* dst = o + p * H * W;
      for (int64_t y = 0; y < H; ++y)
        row_fn(dst + y * W, padded.data() + y * WP, weights.data(), offsets.data(), (int64_t)weights.size(), W);
    }
  });
  return out;
}

}  // namespace
}  // namespace distortx

TORCH_LIBRARY_IMPL(distortx, CPU, m) { m.impl("correlate2d", &distortx::correlate2d_cpu); }
