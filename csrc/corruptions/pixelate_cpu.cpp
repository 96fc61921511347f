// ImageNet-C pixelate on uint8 images (distortx/corruptions/digital.py pixelate_u8): Pillow's 8-bit BOX resize
// (along rows, then columns; each output = (sum of its run of inputs) * w + 2^21 >> 22, clipped to 0..255) and
// NEAREST back up. The runs, weights and nearest sources come from Python (box_taps, nearest_sources), so Pillow's
// arithmetic is written once; this file only runs the loops, in integers: the same bytes as the torch ops.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace distortx {
namespace {

constexpr int kPrecisionBits = 22;  // Pillow's 8-bit resampling fixed point: 32 - 8 - 2

uint8_t box_value(int64_t sum, int64_t w) {
  return (uint8_t)std::clamp<int64_t>((sum * w + (int64_t(1) << (kPrecisionBits - 1))) >> kPrecisionBits, 0, 255);
}

struct Runs {
  const int64_t *LX, *HX, *WX, *LY, *HY, *WY, *RY, *CX;
  int64_t w2, h2;
};

// one image of H x W pixels of K adjacent bytes (K = 3: channels last; K = 1: one plane), rows `in_row` /
// `out_row` bytes apart; `across` [H * w2 * K], `small` [h2 * w2 * K], `colsum` [w2 * K] are scratch
template <int K>
void pixelate_image(const uint8_t* p, uint8_t* q, int64_t H, int64_t W, int64_t in_row, int64_t out_row, const Runs& r,
                    uint8_t* across, uint8_t* small, int64_t* colsum) {
  const int64_t w2 = r.w2, h2 = r.h2;
  for (int64_t y = 0; y < H; ++y) {  // along x: each row's runs
    const uint8_t* row = p + y * in_row;
    uint8_t* dst = across + y * w2 * K;
    for (int64_t v = 0; v < w2; ++v) {
      int32_t sum[K] = {};
      for (int64_t x = r.LX[v]; x < r.HX[v]; ++x)
        for (int k = 0; k < K; ++k) sum[k] += row[x * K + k];
      for (int k = 0; k < K; ++k) dst[v * K + k] = box_value(sum[k], r.WX[v]);
    }
  }
  const int64_t span = w2 * K;
  for (int64_t u = 0; u < h2; ++u) {  // along y: runs of those rows
    std::fill(colsum, colsum + span, 0);
    for (int64_t y = r.LY[u]; y < r.HY[u]; ++y) {
      const uint8_t* src = across + y * span;
      for (int64_t j = 0; j < span; ++j) colsum[j] += src[j];
    }
    for (int64_t j = 0; j < span; ++j) small[u * span + j] = box_value(colsum[j], r.WY[u]);
  }
  for (int64_t y = 0; y < H; ++y) {  // nearest back up: a row repeats the one above when their source is the same
    uint8_t* dst = q + y * out_row;
    if (y > 0 && r.RY[y] == r.RY[y - 1]) {
      std::memcpy(dst, dst - out_row, (size_t)(W * K));
      continue;
    }
    const uint8_t* src = small + r.RY[y] * span;
    for (int64_t x = 0; x < W; ++x)
      for (int k = 0; k < K; ++k) dst[x * K + k] = src[r.CX[x] * K + k];
  }
}

// images u8 [N, C, H, W]; lo/hi/w_x: int64 [w2] runs along x; lo/hi/w_y: int64 [h2] along y; rows int64 [H] in
// 0..h2-1, cols int64 [W] in 0..w2-1 -> u8 [N, C, H, W], channels last kept for C = 3 (pixels of 3 adjacent bytes),
// else NCHW (plane by plane)
at::Tensor pixelate_u8_cpu(const at::Tensor& images_in, const at::Tensor& lo_x, const at::Tensor& hi_x, const at::Tensor& w_x,
                           const at::Tensor& lo_y, const at::Tensor& hi_y, const at::Tensor& w_y, const at::Tensor& rows,
                           const at::Tensor& cols) {
  TORCH_CHECK(images_in.scalar_type() == at::kByte && images_in.dim() == 4 && images_in.device().is_cpu(),
              "distortx.pixelate_u8: images must be a uint8 CPU Tensor[N, C, H, W]");
  const int64_t N = images_in.size(0), C = images_in.size(1), H = images_in.size(2), W = images_in.size(3);
  auto longs = [](const at::Tensor& t, int64_t n, const char* what) {
    TORCH_CHECK(t.dim() == 1 && t.size(0) == n, "distortx.pixelate_u8: ", what, " must be int64 Tensor[", n, "]");
    return t.to(at::kCPU, at::kLong).contiguous();
  };
  const int64_t w2 = lo_x.numel(), h2 = lo_y.numel();
  TORCH_CHECK(w2 >= 1 && h2 >= 1, "distortx.pixelate_u8: empty box runs");
  const at::Tensor lx = longs(lo_x, w2, "lo_x"), hx = longs(hi_x, w2, "hi_x"), wx = longs(w_x, w2, "w_x");
  const at::Tensor ly = longs(lo_y, h2, "lo_y"), hy = longs(hi_y, h2, "hi_y"), wy = longs(w_y, h2, "w_y");
  const at::Tensor ry = longs(rows, H, "rows"), cx = longs(cols, W, "cols");
  const Runs r{lx.data_ptr<int64_t>(), hx.data_ptr<int64_t>(), wx.data_ptr<int64_t>(), ly.data_ptr<int64_t>(),
               hy.data_ptr<int64_t>(), wy.data_ptr<int64_t>(), ry.data_ptr<int64_t>(), cx.data_ptr<int64_t>(), w2, h2};
  for (int64_t v = 0; v < w2; ++v) TORCH_CHECK(0 <= r.LX[v] && r.LX[v] < r.HX[v] && r.HX[v] <= W, "distortx.pixelate_u8: bad x run");
  for (int64_t u = 0; u < h2; ++u) TORCH_CHECK(0 <= r.LY[u] && r.LY[u] < r.HY[u] && r.HY[u] <= H, "distortx.pixelate_u8: bad y run");
  for (int64_t y = 0; y < H; ++y) TORCH_CHECK(0 <= r.RY[y] && r.RY[y] < h2, "distortx.pixelate_u8: bad row source");
  for (int64_t x = 0; x < W; ++x) TORCH_CHECK(0 <= r.CX[x] && r.CX[x] < w2, "distortx.pixelate_u8: bad column source");
  const bool last = C == 3 && images_in.is_contiguous(at::MemoryFormat::ChannelsLast) && !images_in.is_contiguous();
  const at::Tensor images = images_in.contiguous(last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous);
  at::Tensor out = at::empty_like(images);
  if (images.numel() == 0) return out;
  const uint8_t* in = images.data_ptr<uint8_t>();
  uint8_t* o = out.data_ptr<uint8_t>();
  const int64_t K = last ? 3 : 1, units = last ? N : N * C, bytes = H * W * K;
  at::parallel_for(0, units, 1, [&](int64_t a, int64_t b) {
    std::vector<uint8_t> across((size_t)(H * w2 * K)), small((size_t)(h2 * w2 * K));
    std::vector<int64_t> colsum((size_t)(w2 * K));
    for (int64_t t = a; t < b; ++t) {
      if (last)
        pixelate_image<3>(in + t * bytes, o + t * bytes, H, W, W * 3, W * 3, r, across.data(), small.data(), colsum.data());
      else
        pixelate_image<1>(in + t * bytes, o + t * bytes, H, W, W, W, r, across.data(), small.data(), colsum.data());
    }
  });
  return out;
}

}  // namespace
}  // namespace distortx

TORCH_LIBRARY_IMPL(distortx, CPU, m) { m.impl("pixelate_u8", &distortx::pixelate_u8_cpu); }
