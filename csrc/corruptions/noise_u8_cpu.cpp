// ImageNet-C's gaussian, speckle and impulse noise on uint8 images in one pass (distortx/corruptions/noise.py
// *_noise_u8). Per value, the float form's arithmetic with every operation rounded once in the order the torch
// code does it, then corrupt()'s truncation (unit_cpu.cpp), so the bytes equal corrupt()'s float route (u8_to_unit,
// the float form, unit_to_u8) exactly, without its float images. The value at (c, y, x) of an image draws from the
// counter RNG at index c*H*W + y*W + x, in either memory layout:
//   gaussian (kind 0): x = v / 255, y = x + c z             z = rng.normal(seed, index, streams[0])
//   speckle  (kind 1): x = v / 255, y = x + (x c) z
//                      out = (uint8)(clamp(y, 0, 1) * 255 + 0.001)
//   impulse  (kind 2): out = u < c ? (w < 0.5 ? 255 : 0) : v  u = rng.uniform(seed, index, streams[0]) (flip),
//                                                             w = rng.uniform(seed, index, streams[1]) (salt)
// uint8 [N, C, H, W], NCHW- or channels-last-contiguous; the result keeps the memory format.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <vector>

#include "corruptions/u8_segments.h"
#include "distort/cpu_rows.h"

namespace distortx {
namespace cpu {
namespace {

// q[j] = the noisy value of x[j] = v[j] / 255 under the normal z[j], truncated to 8 bits (kinds 0 and 1).
template <bool kSpeckle>
DX_HDI void noise_row_body(const uint8_t* v, const float* z, uint8_t* q, int64_t len, float scale) {
#pragma omp simd
  for (int64_t j = 0; j < len; ++j) {
    const float x = (float)v[j] / 255.0f;
    float y = kSpeckle ? x + (x * scale) * z[j] : x + scale * z[j];
    y = y > 0.0f ? y : 0.0f;
    y = y < 1.0f ? y : 1.0f;
    q[j] = (uint8_t)(int32_t)(y * 255.0f + 0.001f);
  }
}

// q[j] = v[j], or 255 / 0 where the value flips (kind 2); pf, ps: the flip and salt streams' prefixes.
DX_HDI void impulse_row_body(const uint8_t* v, const uint32_t* index, uint8_t* q, int64_t len, float amount,
                             uint32_t pf, uint32_t ps) {
#pragma omp simd
  for (int64_t j = 0; j < len; ++j) {   // in 32-bit lanes with masks, which vectorises (byte selects do not)
    const uint32_t salt = 0u - (uint32_t)(dx_uniform_at(ps, index[j], 0u) < 0.5f);
    const uint32_t flip = 0u - (uint32_t)(dx_uniform_at(pf, index[j], 0u) < amount);
    q[j] = (uint8_t)((flip & salt & 255u) | (~flip & (uint32_t)v[j]));
  }
}

// one row segment of a kind: `len` values at `index`, normals drawn into z (kinds 0, 1)
DX_HDI void segment_body(int kind, const uint8_t* v, const uint32_t* index, float* z, uint8_t* q, int64_t len,
                         float amount, uint32_t p1, uint32_t p2) {
  if (kind == 2) return impulse_row_body(v, index, q, len, amount, p1, p2);
#pragma omp simd
  for (int64_t j = 0; j < len; ++j)
    z[j] = dx_box_muller(dx_uniform_at(p1, index[j], 0u), dx_uniform_at(p2, index[j], 0u));
  if (kind == 1) return noise_row_body<true>(v, z, q, len, amount);
  noise_row_body<false>(v, z, q, len, amount);
}

// compiled for AVX-512 (16 lanes, one vpmovdb per store) and for AVX2 / baseline x86-64, picked at load time like
// noise_cpu.cpp's normal rows; every build gives the same bits (no FMA contraction, IEEE division and sqrt)
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,prefer-vector-width=512"))) void segment_avx512(
    int kind, const uint8_t* v, const uint32_t* index, float* z, uint8_t* q, int64_t len, float amount, uint32_t p1,
    uint32_t p2) {
  segment_body(kind, v, index, z, q, len, amount, p1, p2);
}
#else
void segment_avx512(int, const uint8_t*, const uint32_t*, float*, uint8_t*, int64_t, float, uint32_t, uint32_t) {}
#endif

DX_CLONES void segment_avx2(int kind, const uint8_t* v, const uint32_t* index, float* z, uint8_t* q, int64_t len,
                            float amount, uint32_t p1, uint32_t p2) {
  segment_body(kind, v, index, z, q, len, amount, p1, p2);
}

at::Tensor noise_u8_cpu(const at::Tensor& images_in, const at::Tensor& seeds_, int64_t kind, double amount,
                        at::IntArrayRef streams) {
  TORCH_CHECK(images_in.scalar_type() == at::kByte && images_in.dim() == 4 && images_in.device().is_cpu(),
              "distortx.noise_u8: images must be a uint8 CPU Tensor[N, C, H, W]");
  TORCH_CHECK(seeds_.dim() == 1 && seeds_.scalar_type() == at::kLong && seeds_.size(0) == images_in.size(0),
              "distortx.noise_u8: seeds must be int64 Tensor[N], one per image");
  TORCH_CHECK(kind >= 0 && kind <= 2, "distortx.noise_u8: kind must be 0 (gaussian), 1 (speckle) or 2 (impulse), got ", kind);
  TORCH_CHECK((int64_t)streams.size() == (kind == 2 ? 2 : 1), "distortx.noise_u8: kind ", kind, " takes ",
              kind == 2 ? 2 : 1, " stream(s), got ", streams.size());
  for (int64_t st : streams) TORCH_CHECK(st >= 0 && st < (int64_t(1) << 31), "distortx.noise_u8: 0 <= stream < 2^31");
  const int64_t N = images_in.size(0), C = images_in.size(1), H = images_in.size(2), W = images_in.size(3);
  const int64_t plane = H * W;
  TORCH_CHECK(C * plane < (int64_t(1) << 32), "distortx.noise_u8: at most 2^32 values per image");
  const bool last = u8_channels_last(images_in);
  const at::Tensor images = last ? images_in : images_in.contiguous();
  const at::Tensor seeds = seeds_.contiguous();
  at::Tensor out = at::empty_like(images, last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous);
  if (images.numel() == 0) return out;
  const uint8_t* p = images.data_ptr<uint8_t>();
  uint8_t* q = out.data_ptr<uint8_t>();
  const int64_t* s = seeds.data_ptr<int64_t>();
  const float a = (float)amount;
  const int k = (int)kind;
  // the uniform streams: a normal stream s draws from 2s and 2s + 1; impulse from its two streams directly
  const uint32_t s1 = k == 2 ? (uint32_t)streams[0] : 2u * (uint32_t)streams[0];
  const uint32_t s2 = k == 2 ? (uint32_t)streams[1] : 2u * (uint32_t)streams[0] + 1u;
  const int64_t seg = last ? C * W : W;
  const bool avx512 = u8_avx512_enabled();
  for_each_u8_segment(N, C, H, W, last, [&](int64_t n, const uint32_t* index, int64_t at, int64_t len) {
    thread_local std::vector<float> z;
    if ((int64_t)z.size() < seg) z.resize((size_t)seg);
    const uint32_t p1 = dx_bits_prefix(s[n], s1), p2 = dx_bits_prefix(s[n], s2);
    if (avx512) segment_avx512(k, p + at, index, z.data(), q + at, len, a, p1, p2);
    else segment_avx2(k, p + at, index, z.data(), q + at, len, a, p1, p2);
  });
  return out;
}

}  // namespace
}  // namespace cpu
}  // namespace distortx

TORCH_LIBRARY_IMPL(distortx, CPU, m) { m.impl("noise_u8", &distortx::cpu::noise_u8_cpu); }
