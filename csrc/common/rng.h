// Counter-based random numbers shared by the CPU and CUDA kernels.
// Twin of distortx/distortions/rng.py: same hash, same streams, same float conversion. Keep in step.
#pragma once
#include <stdint.h>
#include <math.h>
#include <string.h>

#if defined(__CUDACC__)
#define DX_HD __host__ __device__ __forceinline__
#else
#define DX_HD inline
#endif

// Like DX_HD, but forces inlining on the host too (the CPU loops need it to vectorise).
#if defined(__CUDACC__)
#define DX_HDI __host__ __device__ __forceinline__
#else
#define DX_HDI inline __attribute__((always_inline))
#endif

namespace distortx {

DX_HD uint32_t hash32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7FEB352Du;
  x ^= x >> 15;
  x *= 0x846CA68Bu;
  x ^= x >> 16;
  return x;
}

DX_HD uint32_t random_bits(int64_t seed, int64_t index, uint32_t stream) {
  const uint64_t s = (uint64_t)seed, i = (uint64_t)index;
  uint32_t h = hash32((uint32_t)s + stream * 0x9E3779B9u);
  h = hash32(h ^ (uint32_t)(s >> 32));
  h = hash32(h ^ (uint32_t)i);
  h = hash32(h + (uint32_t)(i >> 32));
  return h;
}

// float32 uniform in (0, 1).
DX_HD float uniform01(int64_t seed, int64_t index, uint32_t stream) {
  return ((float)(random_bits(seed, index, stream) >> 8) + 0.5f) * (1.0f / 16777216.0f);
}

// ---- the transcendental pieces of the normal draws: Cephes' logf and cosf (minimax polynomials, <= 2 ulp from
// exact), branch-free so the CPU loops vectorise. Built without FMA contraction (-ffp-contract=off, nvcc
// -fmad=false), every operation rounds once, in the order written: rng.log_unit / rng.cos_small are their torch
// twins, bit for bit, so python, C++ and CUDA draw the same normals.

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

// Box-Muller on two uniforms in (0, 1]: sqrt(-2 ln u1) cos(2 pi u2), one float32 rounding per operation in this
// order (rng.box_muller, bit for bit). Every normal the kernels draw goes through this one expression.
DX_HDI float dx_box_muller(float u1, float u2) {
  return sqrtf(-2.0f * dx_logf(u1)) * dx_cosf_small(6.283185307179586f * u2);
}

// Standard normal by Box-Muller from streams 2*stream, 2*stream+1 (rng.normal, bit for bit).
DX_HDI float dx_normal(int64_t seed, int64_t index, uint32_t stream) {
  return dx_box_muller(uniform01(seed, index, 2u * stream), uniform01(seed, index, 2u * stream + 1u));
}

// random_bits split in two for loops over the element index: the part that depends on (seed, stream) only, then
// the index's two words (dx_uniform_at(dx_bits_prefix(seed, stream), lo, hi) == uniform01(seed, index, stream)).
DX_HDI uint32_t dx_bits_prefix(int64_t seed, uint32_t stream) {
  const uint64_t s = (uint64_t)seed;
  return hash32(hash32((uint32_t)s + stream * 0x9E3779B9u) ^ (uint32_t)(s >> 32));
}
DX_HDI float dx_uniform_at(uint32_t prefix, uint32_t index_lo, uint32_t index_hi) {
  const uint32_t h = hash32(hash32(prefix ^ index_lo) + index_hi);
  return ((float)(h >> 8) + 0.5f) * (1.0f / 16777216.0f);
}

}  // namespace distortx
