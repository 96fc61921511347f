// ImageNet-C motion blur's (and snow's) sum of shifted copies (distortx/corruptions/common.py shift_taps): per
// sample, out = 0, then out += w[t] * x shifted by (dy[t], dx[t]) with its edges repeated, for the live taps in
// order. torch's add_(other, alpha) is a fused multiply-add in float32 (alpha rounded to float32), so this is fmaf
// in the same order: the same bits, one pass per tap without the padded copy.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "corruptions/unit.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace distortx {
namespace {

// One output row += w * the source row shifted by sx with its edges repeated: o[j] = fmaf(w, row[clamp(j - sx)],
// o[j]). Compiled with FMA where the CPU has it (elsewhere fmaf is a library call: the same bits, slowly).
__attribute__((target_clones("fma", "default"))) void fma_shifted_row(float* __restrict o, float w,
                                                                                const float* __restrict row, int64_t sx,
                                                                                int64_t W) {
  // columns j - sx inside [0, W): [lo, hi); left of it the first column repeats, right of it the last
  const int64_t lo = std::clamp<int64_t>(sx, 0, W), hi = std::max(lo, std::clamp<int64_t>(W + sx, 0, W));
  const float first = row[0], last = row[W - 1];
  for (int64_t j = 0; j < lo; ++j) o[j] = std::fma(w, first, o[j]);
  for (int64_t j = lo; j < hi; ++j) o[j] = std::fma(w, row[j - sx], o[j]);
  for (int64_t j = hi; j < W; ++j) o[j] = std::fma(w, last, o[j]);
}

#if defined(__GNUC__) && defined(__x86_64__)
// R x 16 outputs of one row from column j, every live tap at once (AVX-512): out[j] = fmaf(w[T-1], r_{T-1}[j - sx],
// ... fmaf(w[0], r_0[j - sx], 0)), the taps' fused multiply-adds in order as fma_shifted_row makes them pass by
// pass, so the same bits, with the outputs held in R registers across all taps (one store per output instead of one
// per tap). rows[t] points at column 0 of tap t's source row inside a copy padded by repeating its edges, far
// enough that every j - sx[t] of the row is readable (no clamping here); the last register is masked by `last`.
template <int R>
__attribute__((target("avx512f"), always_inline)) inline void taps_block(float* __restrict o, const float* const* rows,
                                                                         const int64_t* sx, const float* w, int64_t T,
                                                                         int64_t j, __mmask16 last) {
  __m512 acc[R];
#pragma GCC unroll 8
  for (int q = 0; q < R; ++q) acc[q] = _mm512_setzero_ps();
  for (int64_t t = 0; t < T; ++t) {
    const float* r = rows[t] + j - sx[t];
    const __m512 wt = _mm512_set1_ps(w[t]);
#pragma GCC unroll 8
    for (int q = 0; q < R - 1; ++q) acc[q] = _mm512_fmadd_ps(wt, _mm512_loadu_ps(r + 16 * q), acc[q]);
    acc[R - 1] = _mm512_fmadd_ps(wt, _mm512_maskz_loadu_ps(last, r + 16 * (R - 1)), acc[R - 1]);
  }
#pragma GCC unroll 8
  for (int q = 0; q < R - 1; ++q) _mm512_storeu_ps(o + j + 16 * q, acc[q]);
  _mm512_mask_storeu_ps(o + j + 16 * (R - 1), last, acc[R - 1]);
}

// One output row: blocks of 128 outputs in eight registers (eight chains of fused multiply-adds in flight), then the
// rest in as many registers as it needs (224 px: 128 + 96, no register wasted on columns past the row).
__attribute__((target("avx512f"))) void taps_row_avx512(float* __restrict o, const float* const* rows, const int64_t* sx,
                                                        const float* w, int64_t T, int64_t W) {
  int64_t j = 0;
  for (; j + 128 <= W; j += 128) taps_block<8>(o, rows, sx, w, T, j, 0xFFFF);
  const int64_t left = W - j;
  if (left == 0) return;
  const __mmask16 last = left % 16 == 0 ? 0xFFFF : (__mmask16)((1u << (left % 16)) - 1);
  switch ((left + 15) / 16) {
    case 1: return taps_block<1>(o, rows, sx, w, T, j, last);
    case 2: return taps_block<2>(o, rows, sx, w, T, j, last);
    case 3: return taps_block<3>(o, rows, sx, w, T, j, last);
    case 4: return taps_block<4>(o, rows, sx, w, T, j, last);
    case 5: return taps_block<5>(o, rows, sx, w, T, j, last);
    case 6: return taps_block<6>(o, rows, sx, w, T, j, last);
    case 7: return taps_block<7>(o, rows, sx, w, T, j, last);
    default: return taps_block<8>(o, rows, sx, w, T, j, last);
  }
}
#endif

// x f32 [N, C, H, W]; w f32 [K]; dy, dx i64 [K, N] (shift of tap t for sample n); alive bool [K, N] -> f32.
at::Tensor shift_taps_cpu(const at::Tensor& x_, const at::Tensor& w_, const at::Tensor& dy_, const at::Tensor& dx_,
                          const at::Tensor& alive_) {
  TORCH_CHECK(x_.scalar_type() == at::kFloat && x_.dim() == 4 && x_.device().is_cpu(),
              "distortx.shift_taps: x must be a float32 CPU Tensor[N, C, H, W]");
  const at::Tensor x = x_.contiguous(), w = w_.to(at::kCPU, at::kFloat).contiguous();
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), K = w.numel();
  const at::Tensor dy = dy_.to(at::kCPU, at::kLong).contiguous(), dx = dx_.to(at::kCPU, at::kLong).contiguous();
  const at::Tensor alive = alive_.to(at::kCPU, at::kBool).contiguous();
  TORCH_CHECK(dy.dim() == 2 && dy.size(0) == K && dy.size(1) == N && dx.sizes() == dy.sizes() && alive.sizes() == dy.sizes(),
              "distortx.shift_taps: dy, dx and alive must be Tensor[K, N]");
  at::Tensor out = at::empty_like(x);  // every value written below (the pass-per-tap path zeroes it first)
  if (x.numel() == 0) return out;
  const float* in = x.data_ptr<float>();
  const float* wt = w.data_ptr<float>();
  const int64_t *DY = dy.data_ptr<int64_t>(), *DX = dx.data_ptr<int64_t>();
  const bool* A = alive.data_ptr<bool>();
  float* o = out.data_ptr<float>();
#if defined(__GNUC__) && defined(__x86_64__)
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (avx512) {
    at::parallel_for(0, N * C, 1, [&](int64_t a, int64_t b) {
      std::vector<const float*> rows(K);
      std::vector<int64_t> sx(K);
      std::vector<float> padded;
      for (int64_t p = a; p < b; ++p) {
        const int64_t n = p / C;
        int64_t T = 0, P = 0;
        while (T < K && A[T * N + n]) sx[T] = DX[T * N + n], P = std::max(P, std::abs(sx[T])), ++T;
        // the plane with P columns a side repeating its edge columns
        const int64_t Wp = W + 2 * P;
        padded.resize((size_t)(H * Wp));
        const float* src = in + p * H * W;
        for (int64_t y = 0; y < H; ++y) {
          float* d = padded.data() + y * Wp;
          std::fill(d, d + P, src[y * W]);
          std::copy(src + y * W, src + y * W + W, d + P);
          std::fill(d + P + W, d + Wp, src[y * W + W - 1]);
        }
        for (int64_t y = 0; y < H; ++y) {
          for (int64_t t = 0; t < T; ++t)
            rows[t] = padded.data() + std::clamp<int64_t>(y - DY[t * N + n], 0, H - 1) * Wp + P;
          taps_row_avx512(o + p * H * W + y * W, rows.data(), sx.data(), wt, T, W);
        }
      }
    });
    return out;
  }
#endif
  out.zero_();
  at::parallel_for(0, N * C, 1, [&](int64_t a, int64_t b) {
    for (int64_t p = a; p < b; ++p) {
      const int64_t n = p / C;
      const float* src = in + p * H * W;
      float* dst = o + p * H * W;
      for (int64_t t = 0; t < K && A[t * N + n]; ++t) {
        const int64_t sy = DY[t * N + n], sx = DX[t * N + n];
        for (int64_t y = 0; y < H; ++y)
          fma_shifted_row(dst + y * W, wt[t], src + std::clamp<int64_t>(y - sy, 0, H - 1) * W, sx, W);
      }
    }
  });
  return out;
}

// One output row from a padded plane without AVX-512: o[j] = fmaf(w[T-1], r_{T-1}[j - sx], ... fmaf(w[0], r_0[j - sx],
// 0)), the same fused multiply-adds in the same order as taps_row_avx512 and fma_shifted_row, so the same bits.
__attribute__((target_clones("fma", "default"))) void taps_row_scalar(float* __restrict o, const float* const* rows,
                                                                      const int64_t* sx, const float* w, int64_t T,
                                                                      int64_t W) {
  for (int64_t j = 0; j < W; ++j) {
    float a = 0.0f;
    for (int64_t t = 0; t < T; ++t) a = std::fma(w[t], rows[t][j - sx[t]], a);
    o[j] = a;
  }
}

// motion blur's uint8 form: x u8 [N, C, H, W] (any layout) -> u8 in x's layout: each plane read as v / 255 into a
// copy padded by repeating its edge columns, the taps as shift_taps sums them, each row written truncated as
// unit_to_u8 writes it (the float form's clamp to [0, 1] included): the bytes corrupt() made from the float form.
at::Tensor shift_taps_u8_cpu(const at::Tensor& x_, const at::Tensor& w_, const at::Tensor& dy_, const at::Tensor& dx_,
                             const at::Tensor& alive_) {
  TORCH_CHECK(x_.scalar_type() == at::kByte && x_.dim() == 4 && x_.device().is_cpu(),
              "distortx.shift_taps_u8: x must be a uint8 CPU Tensor[N, C, H, W]");
  const at::Tensor w = w_.to(at::kCPU, at::kFloat).contiguous();
  const int64_t N = x_.size(0), C = x_.size(1), H = x_.size(2), W = x_.size(3), K = w.numel(), area = H * W;
  const at::Tensor dy = dy_.to(at::kCPU, at::kLong).contiguous(), dx = dx_.to(at::kCPU, at::kLong).contiguous();
  const at::Tensor alive = alive_.to(at::kCPU, at::kBool).contiguous();
  TORCH_CHECK(dy.dim() == 2 && dy.size(0) == K && dy.size(1) == N && dx.sizes() == dy.sizes() && alive.sizes() == dy.sizes(),
              "distortx.shift_taps_u8: dy, dx and alive must be Tensor[K, N]");
  const U8Batch batch = u8_batch(x_);
  const at::Tensor& x = batch.x;
  const bool last = batch.last;
  at::Tensor out = empty_u8_like(batch);
  if (x.numel() == 0) return out;
  const uint8_t* in = x.data_ptr<uint8_t>();
  uint8_t* o = out.data_ptr<uint8_t>();
  const float* wt = w.data_ptr<float>();
  const int64_t *DY = dy.data_ptr<int64_t>(), *DX = dx.data_ptr<int64_t>();
  const bool* A = alive.data_ptr<bool>();
#if defined(__GNUC__) && defined(__x86_64__)
  static const bool avx512 = __builtin_cpu_supports("avx512f");
#else
  static const bool avx512 = false;
#endif
  at::parallel_for(0, N, 1, [&](int64_t a, int64_t b) {
    std::vector<const float*> rows((size_t)K);
    std::vector<int64_t> sx((size_t)K);
    std::vector<float> padded, line((size_t)(C * W)), result((size_t)(C * W));
    for (int64_t n = a; n < b; ++n) {
      int64_t T = 0, P = 0;
      while (T < K && A[T * N + n]) sx[T] = DX[T * N + n], P = std::max(P, std::abs(sx[T])), ++T;
      const int64_t Wp = W + 2 * P;
      padded.resize((size_t)(C * H * Wp));
      const uint8_t* image = in + n * C * area;
      for (int64_t y = 0; y < H; ++y) {   // every plane padded by repeating its edge columns, as v / 255
        read_unit_row(image, last, C, H, W, y, line.data());
        for (int64_t c = 0; c < C; ++c) {
          const float* src = line.data() + c * W;
          float* d = padded.data() + (c * H + y) * Wp;
          std::fill(d, d + P, src[0]);
          std::copy(src, src + W, d + P);
          std::fill(d + P + W, d + Wp, src[W - 1]);
        }
      }
      for (int64_t y = 0; y < H; ++y) {
        for (int64_t c = 0; c < C; ++c) {
          for (int64_t t = 0; t < T; ++t)
            rows[t] = padded.data() + (c * H + std::clamp<int64_t>(y - DY[t * N + n], 0, H - 1)) * Wp + P;
#if defined(__GNUC__) && defined(__x86_64__)
          if (avx512) {
            taps_row_avx512(result.data() + c * W, rows.data(), sx.data(), wt, T, W);
            continue;
          }
#endif
          taps_row_scalar(result.data() + c * W, rows.data(), sx.data(), wt, T, W);
        }
        write_u8_row(result.data(), last, C, H, W, y, o + n * C * area);
      }
    }
  });
  return out;
}

}  // namespace
}  // namespace distortx

TORCH_LIBRARY_IMPL(distortx, CPU, m) {
  m.impl("shift_taps", &distortx::shift_taps_cpu);
  m.impl("shift_taps_u8", &distortx::shift_taps_u8_cpu);
}
