// Internal to the fast CPU backend (distort_cpu.cpp and the <family>_cpu.cpp files): the row loops that
// re-implement codes' per-pixel bodies as channel-planar loops the compiler vectorises, element for element
// the arithmetic of the shared bodies (csrc/distort/*.h) in the same order. A code without a row function here
// runs its per-pixel body (dx_pixel) pixel by pixel: the fast path is an optimisation, not a requirement.
// Hot loops are compiled twice (AVX2 and baseline x86-64) and picked at load time (GCC target_clones); AVX2
// without FMA gives the same bits as the baseline build.
#pragma once
#include <ATen/ATen.h>

#include <vector>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "distort/pixel.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define DX_CLONES __attribute__((target_clones("avx2", "default")))
// AVX-512F / AVX2 / baseline, picked by CPU feature (an "arch=skylake-avx512" clone would be picked by CPU model only;
// GCC 12 takes no avx512bw clone)
#define DX_CLONES_512 __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define DX_CLONES_512
#define DX_CLONES
#endif

namespace distortx {
namespace cpu {

constexpr int kBlock = 16;  // register block of the filters

// x[j] = sqrtf(x[j]) for j < n, 4 at a time (sqrtf's errno handling keeps the compiler from vectorising it;
// sqrtps is correctly rounded, so the bits equal sqrtf's).
inline void sqrt_n(float* x, int n) {
  int j = 0;
#if defined(__x86_64__)
  for (; j + 4 <= n; j += 4) _mm_storeu_ps(x + j, _mm_sqrt_ps(_mm_loadu_ps(x + j)));
#endif
  for (; j < n; ++j) x[j] = sqrtf(x[j]);
}

// Per-thread scratch of the row loops.
struct RowTmp {
  std::vector<float> a, b, acc;
  std::vector<int> i0, i1;
  std::vector<const float*> rows;
  void reserve(int w) {
    a.resize(w + kBlock), b.resize(w + kBlock), acc.resize(3 * (size_t)w + kBlock);
    i0.resize(w), i1.resize(w);
  }
};

// The names every row function body uses: the segment [xa, xb) of row y of image n, owned by region g.
#define DX_ROW_VARS                                                                                          \
  [[maybe_unused]] const int C = b.C, H = b.H, W = b.W, len = xb - xa;                                      \
  [[maybe_unused]] const int64_t plane = (int64_t)H * W, ib = (int64_t)n * C * plane, rowoff = (int64_t)y * W + xa; \
  [[maybe_unused]] const float* img = b.in + ib;                                                            \
  [[maybe_unused]] float* out = b.out + ib;                                                                 \
  [[maybe_unused]] float* A = t.a.data();                                                                   \
  [[maybe_unused]] float* B = t.b.data()

#define DX_ROW_ARGS const DxBatch &b, const DxRegion &g, int n, int y, int xa, int xb, RowTmp &t

// ---- the op's CPU entry points ----------------------------------------------------------------------------
// float32 [N, C, H, W] contiguous (distort_cpu.cpp); uint8 [N, C, H, W], NCHW- or channels-last-contiguous,
// result uint8 in the same memory format (u8_cpu.cpp). Same codes / values / boxes / seeds as the op's schema.
at::Tensor distort_cpu(const at::Tensor& images, const at::Tensor& codes, const at::Tensor& values,
                       const at::Tensor& boxes, const at::Tensor& seeds);
at::Tensor distort_u8(const at::Tensor& images, const at::Tensor& codes, const at::Tensor& values,
                      const at::Tensor& boxes, const at::Tensor& seeds);

// ---- torch-side pre-pass hooks (DxBackend) ------------------------------------------------------------------
// o[j] = rng.normal(seed, i0 + j, stream) for j < len (p1, p2: the stream pair's prefixes).
void fill_normal_row(float* o, uint32_t p1, uint32_t p2, int64_t i0, int64_t len);
void cpu_fill_normal(at::Tensor out, const at::Tensor& seeds, uint32_t stream);   // noise_cpu.cpp
void cpu_mean_luma(const at::Tensor& images, const std::vector<int64_t>& which, float* out);  // tone_cpu.cpp

// ---- pre-pass jobs ----------------------------------------------------------------------------------------
// NL-means box rows [ya, yb) of region slot (nlm_cpu.cpp); kNlmBand rows per job
constexpr int kNlmBand = 24;
void nlm_band(const DxBatch& b, float* scratch, int32_t slot, int ya, int yb);
// dst[j] = round-half-even(clamp(q[j], 0, 1) * 255) (= dx_u8, = from_batch's rounding), vectorised (u8_cpu.cpp)
void float_to_bytes(const float* q, int64_t n, uint8_t* dst);
// JPEG blocks: the pre-pass elements [e0, e1) of region slot, the image's 8-bit samples (C x H x W bytes,
// float_to_bytes of the image) read from `samples` (jpeg_cpu.cpp)
void jpeg_blocks(const DxBatch& b, float* scratch, int32_t slot, int64_t e0, int64_t e1, const uint8_t* samples);
// lowpass cells of channel c of region slot (blur_cpu.cpp)
void lowpass_channel(const DxBatch& b, float* scratch, int32_t slot, int c);
// the Gaussian blur's horizontal pass of the scratch row starting at element e0 (blur_cpu.cpp)
void blur_row(const DxRegion& g, float* scratch, const float* img, int H, int W, int64_t e0, std::vector<float>& pad);

// ---- main pass: row segments, by family ---------------------------------------------------------------------
void row_gaussian_noise(DX_ROW_ARGS);  // gaussian_noise, gaussian_noise_sigma
void row_mono_gaussian_noise(DX_ROW_ARGS);
void row_salt_pepper(DX_ROW_ARGS);
void row_mono_salt_pepper(DX_ROW_ARGS);
void row_fnoise(DX_ROW_ARGS);
void row_quantization(DX_ROW_ARGS);
void row_contrast(DX_ROW_ARGS);
void row_gaussian_blur(DX_ROW_ARGS);
void row_motion_blur(DX_ROW_ARGS);
void row_lowpass(DX_ROW_ARGS);
bool row_twirl(DX_ROW_ARGS);  // false: the region is a copy (per-pixel body)
void row_marble(DX_ROW_ARGS);
void row_jpeg(DX_ROW_ARGS);
void row_nlm(DX_ROW_ARGS);

}  // namespace cpu
}  // namespace distortx
