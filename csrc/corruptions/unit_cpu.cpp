// The ImageNet-C family's conversions of uint8 images (distortx/corruptions/__init__.py _corrupt_batch), in one pass
// each instead of torch's two or three (a channels-last uint8 image is transposed at ~1 ns a byte by torch or numpy):
//   u8_to_unit  u8 [N, C, H, W] (any layout) -> f32 NCHW, v / 255 as torch divides (a table of the 256 quotients);
//   unit_to_u8  f32 [N, C, H, W] -> u8, floor(clamp(x, 0, 1) * 255 + 0.001) as imagecorruptions' np.uint8 after
//               the torch code's float32 ops (clamp, multiply, add: each rounded once), written channels last
//               when asked (the layout a numpy H x W x 3 image returns in, so it needs no further copy).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "corruptions/unit.h"

namespace distortx {
namespace {

const std::array<float, 256>& quotients() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int v = 0; v < 256; ++v) t[v] = (float)v / 255.0f;
    return t;
  }();
  return table;
}

// dst[i] = floor(clamp(src[i], 0, 1) * 255 + 0.001): the floor as a conversion toward zero (the value is >= 0.001);
// NaN reads 0, as torch's clamp + floor + uint8 conversion gives it on x86. The AVX-512 loop does the same per lane
// (max_ps returns its second operand for NaN), 16 values at a time.
void truncate_scalar(const float* src, uint8_t* dst, int64_t i, int64_t n) {
  for (; i < n; ++i) {
    float y = src[i] > 0.0f ? src[i] : 0.0f;
    y = y < 1.0f ? y : 1.0f;
    y = y * 255.0f;
    dst[i] = (uint8_t)(int32_t)(y + 0.001f);
  }
}

__attribute__((target("avx512f"))) void truncate_avx512(const float* src, uint8_t* dst, int64_t n) {
  const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f), scale = _mm512_set1_ps(255.0f),
               fudge = _mm512_set1_ps(0.001f);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 y = _mm512_min_ps(_mm512_max_ps(_mm512_loadu_ps(src + i), zero), one);
    y = _mm512_add_ps(_mm512_mul_ps(y, scale), fudge);
    _mm_storeu_si128((__m128i*)(dst + i), _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(y)));
  }
  truncate_scalar(src, dst, i, n);
}

// Three float planes of n pixels -> a channels-last RGB row of bytes, each value truncated as truncate_scalar does.
// AVX-512: 16 pixels at a time, each channel truncated in a register, then interleaved by two two-source permutes
// per output vector (element e of the 48 is channel e % 3 of pixel e / 3) and packed to bytes.
void interleave_scalar(const float* r, const float* g, const float* b, uint8_t* dst, int64_t i, int64_t n) {
  for (; i < n; ++i) truncate_scalar(r + i, dst + 3 * i, 0, 1), truncate_scalar(g + i, dst + 3 * i + 1, 0, 1),
                     truncate_scalar(b + i, dst + 3 * i + 2, 0, 1);
}

// floor(clamp(p[0..16), 0, 1) * 255 + 0.001) as int32 lanes (truncate_avx512's operations)
__attribute__((target("avx512f"))) inline __m512i truncated16(const float* p) {
  const __m512 y = _mm512_min_ps(_mm512_max_ps(_mm512_loadu_ps(p), _mm512_setzero_ps()), _mm512_set1_ps(1.0f));
  return _mm512_cvttps_epi32(_mm512_add_ps(_mm512_mul_ps(y, _mm512_set1_ps(255.0f)), _mm512_set1_ps(0.001f)));
}

__attribute__((target("avx512f"))) void interleave_avx512(const float* r, const float* g, const float* b, uint8_t* dst,
                                                          int64_t n) {
  // output vector k, lane l: e = 16 k + l, channel c = e % 3, pixel j = e / 3; step 1 takes R (index j) or G
  // (16 + j), step 2 keeps that (index l) or takes B (16 + j)
  alignas(64) int32_t first[3][16], second[3][16];
  for (int k = 0; k < 3; ++k)
    for (int l = 0; l < 16; ++l) {
      const int e = 16 * k + l, c = e % 3, j = e / 3;
      first[k][l] = c == 1 ? 16 + j : j;
      second[k][l] = c == 2 ? 16 + j : l;
    }
  __m512i f1[3], f2[3];
  for (int k = 0; k < 3; ++k) f1[k] = _mm512_load_si512(first[k]), f2[k] = _mm512_load_si512(second[k]);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i vr = truncated16(r + i), vg = truncated16(g + i), vb = truncated16(b + i);
    for (int k = 0; k < 3; ++k) {
      const __m512i v = _mm512_permutex2var_epi32(_mm512_permutex2var_epi32(vr, f1[k], vg), f2[k], vb);
      _mm_storeu_si128((__m128i*)(dst + 3 * i + 16 * k), _mm512_cvtepi32_epi8(v));
    }
  }
  interleave_scalar(r, g, b, dst, i, n);
}

void interleave_rgb(const float* r, const float* g, const float* b, uint8_t* dst, int64_t n) {
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (avx512) return interleave_avx512(r, g, b, dst, n);
  interleave_scalar(r, g, b, dst, 0, n);
}

void truncate_row(const float* src, uint8_t* dst, int64_t n) {
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (avx512) return truncate_avx512(src, dst, n);
  truncate_scalar(src, dst, 0, n);
}

// A channels-last RGB row of n pixels -> three float planes of v / 255 (the table's quotients: a float32 division is
// correctly rounded, so vdivps gives the same bits). AVX-512: 16 pixels (48 bytes) widened to floats, divided, and
// split into channels by two two-source permutes per channel; the tail through the table.
void split_rgb_scalar(const uint8_t* src, float* r, float* g, float* b, int64_t i, int64_t n) {
  const float* t = quotients().data();
  for (; i < n; ++i) r[i] = t[src[3 * i]], g[i] = t[src[3 * i + 1]], b[i] = t[src[3 * i + 2]];
}

__attribute__((target("avx512f"))) void split_rgb_avx512(const uint8_t* src, float* r, float* g, float* b, int64_t n) {
  // channel c, lane j: element e = 3 j + c of the 48; e < 32 comes from the first two vectors (step 1), the rest
  // from the third (step 2: index 16 + e - 32)
  alignas(64) int32_t first[3][16], second[3][16];
  for (int c = 0; c < 3; ++c)
    for (int j = 0; j < 16; ++j) {
      const int e = 3 * j + c;
      first[c][j] = e < 32 ? e : 0;
      second[c][j] = e < 32 ? j : 16 + e - 32;
    }
  const __m512 denom = _mm512_set1_ps(255.0f);
  __m512i f1[3], f2[3];
  for (int c = 0; c < 3; ++c) f1[c] = _mm512_load_si512(first[c]), f2[c] = _mm512_load_si512(second[c]);
  float* out[3] = {r, g, b};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const uint8_t* p = src + 3 * i;
    __m512 v[3];
    for (int k = 0; k < 3; ++k)
      v[k] = _mm512_div_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i*)(p + 16 * k)))), denom);
    for (int c = 0; c < 3; ++c)
      _mm512_storeu_ps(out[c] + i, _mm512_permutex2var_ps(_mm512_permutex2var_ps(v[0], f1[c], v[1]), f2[c], v[2]));
  }
  split_rgb_scalar(src, r, g, b, i, n);
}

void split_rgb(const uint8_t* src, float* r, float* g, float* b, int64_t n) {
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (avx512) return split_rgb_avx512(src, r, g, b, n);
  split_rgb_scalar(src, r, g, b, 0, n);
}

at::Tensor u8_to_unit_cpu(const at::Tensor& images_in) {
  TORCH_CHECK(images_in.scalar_type() == at::kByte && images_in.dim() == 4 && images_in.device().is_cpu(),
              "distortx.u8_to_unit: images must be a uint8 CPU Tensor[N, C, H, W]");
  const int64_t N = images_in.size(0), C = images_in.size(1), plane = images_in.size(2) * images_in.size(3);
  const U8Batch batch = u8_batch(images_in);
  const at::Tensor& images = batch.x;
  const bool last = batch.last;
  at::Tensor out = at::empty(images.sizes(), images.options().dtype(at::kFloat));
  if (images.numel() == 0) return out;
  const uint8_t* p = images.data_ptr<uint8_t>();
  float* q = out.data_ptr<float>();
  const float* t = quotients().data();
  at::parallel_for(0, N, 1, [&](int64_t a, int64_t b) {
    for (int64_t n = a; n < b; ++n) {
      const uint8_t* src = p + n * C * plane;
      float* dst = q + n * C * plane;
      if (last && C == 3) {
        split_rgb(src, dst, dst + plane, dst + 2 * plane, plane);
      } else if (last) {
        for (int64_t i = 0; i < plane; ++i)
          for (int64_t c = 0; c < C; ++c) dst[c * plane + i] = t[src[i * C + c]];
      } else {
        for (int64_t i = 0; i < C * plane; ++i) dst[i] = t[src[i]];
      }
    }
  });
  return out;
}

at::Tensor unit_to_u8_cpu(const at::Tensor& x_in, bool channels_last) {
  TORCH_CHECK(x_in.scalar_type() == at::kFloat && x_in.dim() == 4 && x_in.device().is_cpu(),
              "distortx.unit_to_u8: x must be a float32 CPU Tensor[N, C, H, W]");
  const at::Tensor x = x_in.contiguous();
  const int64_t N = x.size(0), C = x.size(1), plane = x.size(2) * x.size(3);
  at::Tensor out = at::empty(x.sizes(), x.options().dtype(at::kByte)
                                          .memory_format(channels_last ? at::MemoryFormat::ChannelsLast
                                                                       : at::MemoryFormat::Contiguous));
  if (x.numel() == 0) return out;
  const float* p = x.data_ptr<float>();
  uint8_t* q = out.data_ptr<uint8_t>();
  at::parallel_for(0, N, 1, [&](int64_t a, int64_t b) {
    std::vector<uint8_t> planes(channels_last ? (size_t)(C * plane) : 0);
    for (int64_t n = a; n < b; ++n) {
      const float* src = p + n * C * plane;
      uint8_t* dst = q + n * C * plane;
      if (!channels_last) {
        truncate_row(src, dst, C * plane);
        continue;
      }
      if (C == 3) {
        interleave_rgb(src, src + plane, src + 2 * plane, dst, plane);
        continue;
      }
      truncate_row(src, planes.data(), C * plane);   // then interleaved
      {
        for (int64_t i = 0; i < plane; ++i)
          for (int64_t c = 0; c < C; ++c) dst[i * C + c] = planes[c * plane + i];
      }
    }
  });
  return out;
}

}  // namespace

U8Batch u8_batch(const at::Tensor& x) {
  const bool last = x.size(1) > 1 && x.is_contiguous(at::MemoryFormat::ChannelsLast) && !x.is_contiguous();
  return {last ? x : x.contiguous(), last};
}

at::Tensor empty_u8_like(const U8Batch& b) {
  return at::empty(b.x.sizes(), b.x.options().dtype(at::kByte).memory_format(
                                    b.last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous));
}

void read_unit_row(const uint8_t* image, bool last, int64_t C, int64_t H, int64_t W, int64_t y, float* rows) {
  const int64_t plane = H * W;
  if (last && C == 3) return split_rgb(image + y * W * 3, rows, rows + W, rows + 2 * W, W);
  const float* t = quotients().data();
  for (int64_t c = 0; c < C; ++c) {
    float* r = rows + c * W;
    if (last) {
      const uint8_t* src = image + y * W * C + c;
      for (int64_t k = 0; k < W; ++k) r[k] = t[src[k * C]];
    } else {
      const uint8_t* src = image + c * plane + y * W;
      for (int64_t k = 0; k < W; ++k) r[k] = t[src[k]];
    }
  }
}

void write_u8_row(const float* rows, bool last, int64_t C, int64_t H, int64_t W, int64_t y, uint8_t* image) {
  const int64_t plane = H * W;
  if (last && C == 3) return interleave_rgb(rows, rows + W, rows + 2 * W, image + y * W * 3, W);
  if (!last) {
    for (int64_t c = 0; c < C; ++c) truncate_row(rows + c * W, image + c * plane + y * W, W);
    return;
  }
  uint8_t bytes[64];
  for (int64_t c = 0; c < C; ++c)
    for (int64_t k0 = 0; k0 < W; k0 += 64) {
      const int64_t n = std::min<int64_t>(64, W - k0);
      truncate_row(rows + c * W + k0, bytes, n);
      for (int64_t k = 0; k < n; ++k) image[(y * W + k0 + k) * C + c] = bytes[k];
    }
}

}  // namespace distortx

TORCH_LIBRARY_IMPL(distortx, CPU, m) {
  m.impl("u8_to_unit", &distortx::u8_to_unit_cpu);
  m.impl("unit_to_u8", &distortx::unit_to_u8_cpu);
}
