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

void truncate_row(const float* src, uint8_t* dst, int64_t n) {
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (avx512) return truncate_avx512(src, dst, n);
  truncate_scalar(src, dst, 0, n);
}

at::Tensor u8_to_unit_cpu(const at::Tensor& images_in) {
  TORCH_CHECK(images_in.scalar_type() == at::kByte && images_in.dim() == 4 && images_in.device().is_cpu(),
              "distortx.u8_to_unit: images must be a uint8 CPU Tensor[N, C, H, W]");
  const int64_t N = images_in.size(0), C = images_in.size(1), plane = images_in.size(2) * images_in.size(3);
  const bool last = C > 1 && images_in.is_contiguous(at::MemoryFormat::ChannelsLast) && !images_in.is_contiguous();
  const at::Tensor images = last ? images_in : images_in.contiguous();
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
        float *r = dst, *g = dst + plane, *bl = dst + 2 * plane;
        for (int64_t i = 0; i < plane; ++i) r[i] = t[src[3 * i]], g[i] = t[src[3 * i + 1]], bl[i] = t[src[3 * i + 2]];
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
      truncate_row(src, planes.data(), C * plane);   // then interleaved
      if (C == 3) {
        const uint8_t *r = planes.data(), *g = r + plane, *bl = g + plane;
        for (int64_t i = 0; i < plane; ++i) dst[3 * i] = r[i], dst[3 * i + 1] = g[i], dst[3 * i + 2] = bl[i];
      } else {
        for (int64_t i = 0; i < plane; ++i)
          for (int64_t c = 0; c < C; ++c) dst[i * C + c] = planes[c * plane + i];
      }
    }
  });
  return out;
}

}  // namespace
}  // namespace distortx

TORCH_LIBRARY_IMPL(distortx, CPU, m) {
  m.impl("u8_to_unit", &distortx::u8_to_unit_cpu);
  m.impl("unit_to_u8", &distortx::unit_to_u8_cpu);
}
