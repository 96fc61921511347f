// Noise family per-pixel bodies (twin of distortx/distortions/noise.py; formulas in its docstring).
// Each body writes the C channel values of pixel (y, x) to o[0..C-1], before the final clamp to [0, 1].
#pragma once
#include <string.h>

#include "distort/region.h"

namespace distortx {

// ---- fast, vectorisable transcendental pieces of rng.normal (Cephes-style minimax polynomials, <= 2 ulp;
// torch's log/cos and libm agree with them to ~1e-7). Used by the CPU and CUDA kernels alike.

DX_HDI uint32_t dx_float_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
DX_HDI float dx_bits_float(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

// Branch-free select of a or b by a 0 / ~0 mask (keeps the CPU loops vectorisable).
DX_HDI float dx_select(uint32_t mask, float a, float b) {
  return dx_bits_float((dx_float_bits(a) & mask) | (dx_float_bits(b) & ~mask));
}

// Natural log of x in (0, 1] (normal positive floats): Cephes logf.
DX_HDI float dx_logf(float x) {
  const uint32_t bits = dx_float_bits(x);
  const float m0 = dx_bits_float((bits & 0x007FFFFFu) | 0x3F000000u);  // mantissa in [0.5, 1)
  const uint32_t lo = 0u - (uint32_t)(m0 < 0.707106781186547524f);
  const float e = (float)((int)(bits >> 23) - 126) - dx_select(lo, 1.0f, 0.0f);
  const float m = dx_select(lo, m0 + m0 - 1.0f, m0 - 1.0f);
  const float z = m * m;
  float y = 7.0376836292e-2f;
  y = y * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y = y * m * z;
  y = y + -2.12194440e-4f * e;
  y = y - 0.5f * z;
  return m + y + 0.693359375f * e;
}

// cos(x) for 0 <= x < 8: Cephes cosf (octant reduction with a 3-part pi/4, both polynomials, branch-free).
DX_HDI float dx_cosf_small(float x) {
  int j = (int)(x * 1.27323954473516f);  // 4 / pi
  j += j & 1;
  const float y = (float)j;
  x = ((x - y * 0.78515625f) - y * 2.4187564849853515625e-4f) - y * 3.77489497744594108e-8f;
  const uint32_t q = (uint32_t)(j & 7);  // 0, 2, 4, 6: cos, -sin, -cos, sin
  const float z = x * x;
  const float c = ((2.443315711809948e-5f * z - 1.388731625493765e-3f) * z + 4.166664568298827e-2f) * z * z - 0.5f * z + 1.0f;
  const float s = ((-1.9515295891e-4f * z + 8.3321608736e-3f) * z - 1.6666654611e-1f) * z * x + x;
  const float r = dx_select(0u - ((q >> 1) & 1u), s, c);
  return dx_bits_float(dx_float_bits(r) ^ (((q + 2u) & 4u) << 29));
}

// rng.normal's two factors for element `index`: L = -2 log(u1), K = cos(2 pi u2) (streams 2s, 2s+1);
// the draw is sqrtf(L) * K.
DX_HDI void dx_normal_parts(int64_t seed, int64_t index, uint32_t stream, float& L, float& K) {
  L = -2.0f * dx_logf(uniform01(seed, index, 2u * stream));
  K = dx_cosf_small(6.283185307179586f * uniform01(seed, index, 2u * stream + 1u));
}

// rng.random_bits split in two: the part that depends on (seed, stream) only, then the element index.
DX_HDI uint32_t dx_bits_prefix(int64_t seed, uint32_t stream) {
  const uint64_t s = (uint64_t)seed;
  return hash32(hash32((uint32_t)s + stream * 0x9E3779B9u) ^ (uint32_t)(s >> 32));
}
DX_HDI float dx_uniform_at(uint32_t prefix, uint32_t index_lo, uint32_t index_hi) {
  const uint32_t h = hash32(hash32(prefix ^ index_lo) + index_hi);
  return ((float)(h >> 8) + 0.5f) * (1.0f / 16777216.0f);
}

DX_HDI float dx_normal(int64_t seed, int64_t index, uint32_t stream) {
  float L, K;
  dx_normal_parts(seed, index, stream, L, K);
  return sqrtf(L) * K;
}

// Bodies share one signature (codes.h): (region, scratch, image n, C, H, W, y, x, out).

// gaussian_noise (v0 = variance), gaussian_noise_sigma (v0 = sigma on 0..255): x + std * z(seed, c*H*W + y*W + x, 0),
// std = noise.stdv (planner: sqrtf(variance) or sigma / 255)
DX_HD void dx_gaussian_noise(const DxRegion& g, const float*, const float* img, int C, int H, int W, int y, int x, float* o) {
  const int64_t plane = (int64_t)H * W, p = (int64_t)y * W + x;
  const float stdv = g.noise.stdv;
  for (int c = 0; c < C; ++c) o[c] = img[c * plane + p] + stdv * dx_normal(g.seed, c * plane + p, 0u);
}

// mono_gaussian_noise: one draw z(seed, y*W + x, 0) for all channels, std = sigma / 255
DX_HD void dx_mono_noise(const DxRegion& g, const float*, const float* img, int C, int H, int W, int y, int x, float* o) {
  const int64_t plane = (int64_t)H * W, p = (int64_t)y * W + x;
  const float n = (g.v[0] / 255.0f) * dx_normal(g.seed, p, 0u);
  for (int c = 0; c < C; ++c) o[c] = img[c * plane + p] + n;
}

// salt_pepper: per channel value u = u(seed, c*H*W + y*W + x, 0); u < amount/2 -> 0, u < amount -> 1, else unchanged
DX_HD void dx_salt_pepper(const DxRegion& g, const float*, const float* img, int C, int H, int W, int y, int x, float* o) {
  const int64_t plane = (int64_t)H * W, p = (int64_t)y * W + x;
  const float amount = g.v[0];
  for (int c = 0; c < C; ++c) {
    const float u = uniform01(g.seed, c * plane + p, 0u), v = img[c * plane + p];
    o[c] = u < 0.5f * amount ? 0.0f : (u < amount ? 1.0f : v);
  }
}

// mono_salt_pepper: u = u(seed, y*W + x, 0) decides for all channels of the pixel (black or white specks)
DX_HD void dx_mono_salt_pepper(const DxRegion& g, const float*, const float* img, int C, int H, int W, int y, int x, float* o) {
  const int64_t plane = (int64_t)H * W, p = (int64_t)y * W + x;
  const float u = uniform01(g.seed, p, 0u), amount = g.v[0];
  for (int c = 0; c < C; ++c) {
    const float v = img[c * plane + p];
    o[c] = u < 0.5f * amount ? 0.0f : (u < amount ? 1.0f : v);
  }
}

// fnoise strength: noise std per unit f (noise.FNOISE_STD_PER_F, Ahn's generator at 256x256)
#define DX_FNOISE_STD_PER_F 0.0154f

// fnoise: x + f * 0.0154 * N[c, y, x]; the normalised 1/f field N [C, H, W] is a pre-pass in scratch (off)
DX_HD void dx_fnoise(const DxRegion& g, const float* scratch, const float* img, int C, int H, int W, int y, int x, float* o) {
  const int64_t plane = (int64_t)H * W, p = (int64_t)y * W + x;
  const float s = g.v[0] * DX_FNOISE_STD_PER_F;
  const float* field = scratch + g.off;
  for (int c = 0; c < C; ++c) o[c] = img[c * plane + p] + s * field[c * plane + p];
}

}  // namespace distortx
