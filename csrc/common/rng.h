// Counter-based random numbers shared by the CPU and CUDA kernels.
// Twin of distortx/distortions/rng.py: same hash, same streams, same float conversion. Keep in step.
#pragma once
#include <stdint.h>
#include <math.h>

#if defined(__CUDACC__)
#define DX_HD __host__ __device__ __forceinline__
#else
#define DX_HD inline
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

// Standard normal by Box-Muller from streams 2*stream, 2*stream+1.
DX_HD float normal01(int64_t seed, int64_t index, uint32_t stream) {
  const float u1 = uniform01(seed, index, 2u * stream);
  const float u2 = uniform01(seed, index, 2u * stream + 1u);
  return sqrtf(-2.0f * logf(u1)) * cosf(6.283185307179586f * u2);
}

}  // namespace distortx
