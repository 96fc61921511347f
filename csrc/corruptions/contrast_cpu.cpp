// ImageNet-C contrast on uint8 images (distortx/corruptions/digital.py contrast_u8): each channel's mean from exact
// integer sums, then one 256-entry table per (image, channel) built with the torch code's float32 expression
// (x / 255 - m) * c + m, clipped, truncated to 8 bits as corrupt() does; the image is looked up in it. The same
// bytes as the torch form (its test compares them); no float image is ever made.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

namespace distortx {
namespace {

// the torch form's table, value by value (float32, no contraction: setup.py's -ffp-contract=off)
std::array<uint8_t, 256> contrast_table(float mean, float gain) {
  std::array<uint8_t, 256> t{};
  for (int v = 0; v < 256; ++v) {
    const float x = (float)v / 255.0f;
    float y = (x - mean) * gain;
    y = y + mean;
    y = std::min(std::max(y, 0.0f), 1.0f);
    const float scaled = y * 255.0f;
    t[v] = (uint8_t)std::floor(scaled + 0.001f);
  }
  return t;
}

// the sum of every C-th byte of p[0 .. pixels * C), per channel: 16-bit lanes over 48-byte blocks (a multiple of
// C = 1 or 3; 255 blocks at most before they are flushed, so no lane overflows), which the compiler vectorises
template <int C>
void channel_sums(const uint8_t* p, int64_t pixels, uint64_t* sums) {
  constexpr int kBlock = 48;
  const int64_t blocks = pixels * C / kBlock;
  uint16_t lane[kBlock];
  for (int c = 0; c < C; ++c) sums[c] = 0;
  for (int64_t b0 = 0; b0 < blocks; b0 += 255) {
    std::fill(lane, lane + kBlock, 0);
    const int64_t b1 = std::min<int64_t>(blocks, b0 + 255);
    for (int64_t b = b0; b < b1; ++b)
      for (int j = 0; j < kBlock; ++j) lane[j] += p[b * kBlock + j];
    for (int j = 0; j < kBlock; ++j) sums[j % C] += lane[j];
  }
  for (int64_t i = blocks * kBlock; i < pixels * C; ++i) sums[i % C] += p[i];
}

// one image, C channels interleaved (C = 3, channels last) or one plane (C = 1) of `pixels` pixels
template <int C>
void contrast_image(const uint8_t* p, uint8_t* q, int64_t pixels, float gain) {
  uint64_t sums[C];
  channel_sums<C>(p, pixels, sums);
  std::array<uint8_t, 256> t[C];
  for (int c = 0; c < C; ++c) t[c] = contrast_table((float)((double)sums[c] / (double)pixels / 255.0), gain);
  for (int64_t i = 0; i < pixels; ++i)
    for (int c = 0; c < C; ++c) q[i * C + c] = t[c][p[i * C + c]];
}

// images u8 [N, C, H, W], gains f32 [N] -> u8 in the images' memory format (channels last kept for C = 3; other
// layouts and channel counts run plane by plane on an NCHW copy)
at::Tensor contrast_u8_cpu(const at::Tensor& images_in, const at::Tensor& gains_in) {
  TORCH_CHECK(images_in.scalar_type() == at::kByte && images_in.dim() == 4 && images_in.device().is_cpu(),
              "distortx.contrast_u8: images must be a uint8 CPU Tensor[N, C, H, W]");
  const int64_t N = images_in.size(0), C = images_in.size(1), H = images_in.size(2), W = images_in.size(3);
  TORCH_CHECK(gains_in.dim() == 1 && gains_in.size(0) == N, "distortx.contrast_u8: gains must be Tensor[", N, "]");
  const bool last = C == 3 && images_in.is_contiguous(at::MemoryFormat::ChannelsLast) && !images_in.is_contiguous();
  const at::Tensor images = images_in.contiguous(last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous);
  const at::Tensor gains = gains_in.to(at::kCPU, at::kFloat).contiguous();
  at::Tensor out = at::empty_like(images);
  if (images.numel() == 0) return out;
  const uint8_t* in = images.data_ptr<uint8_t>();
  uint8_t* o = out.data_ptr<uint8_t>();
  const float* g = gains.data_ptr<float>();
  const int64_t plane = H * W;
  if (last) {
    at::parallel_for(0, N, 1, [&](int64_t a, int64_t b) {
      for (int64_t n = a; n < b; ++n) contrast_image<3>(in + n * 3 * plane, o + n * 3 * plane, plane, g[n]);
    });
  } else {
    at::parallel_for(0, N * C, 1, [&](int64_t a, int64_t b) {
      for (int64_t t = a; t < b; ++t) contrast_image<1>(in + t * plane, o + t * plane, plane, g[t / C]);
    });
  }
  return out;
}

}  // namespace
}  // namespace distortx

TORCH_LIBRARY_IMPL(distortx, CPU, m) { m.impl("contrast_u8", &distortx::contrast_u8_cpu); }
