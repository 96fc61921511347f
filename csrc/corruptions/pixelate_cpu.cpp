// ImageNet-C pixelate on uint8 images (distortx/corruptions/digital.py pixelate_u8): Pillow's 8-bit BOX resize
// (along rows, then columns; each output = (sum of its run of inputs) * w + 2^21 >> 22, clipped to 0..255) and
// NEAREST back up. The runs, weights and nearest sources come from Python (box_taps, nearest_sources), so Pillow's
// arithmetic is written once; this file only runs the loops, in integers: the same bytes as the torch ops.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

namespace distortx {
namespace {

constexpr int kPrecisionBits = 22;  // Pillow's 8-bit resampling fixed point: 32 - 8 - 2

uint8_t box_value(int64_t sum, int64_t w) {
  return (uint8_t)std::clamp<int64_t>((sum * w + (int64_t(1) << (kPrecisionBits - 1))) >> kPrecisionBits, 0, 255);
}

// images u8 [N, C, H, W] (any strides); lo/hi/w_x: int64 [w2] runs along x; lo/hi/w_y: int64 [h2] along y;
// rows int64 [H] in 0..h2-1, cols int64 [W] in 0..w2-1 -> u8 [N, C, H, W] in the images' memory format.
at::Tensor pixelate_u8_cpu(const at::Tensor& images, const at::Tensor& lo_x, const at::Tensor& hi_x, const at::Tensor& w_x,
                           const at::Tensor& lo_y, const at::Tensor& hi_y, const at::Tensor& w_y, const at::Tensor& rows,
                           const at::Tensor& cols) {
  TORCH_CHECK(images.scalar_type() == at::kByte && images.dim() == 4 && images.device().is_cpu(),
              "distortx.pixelate_u8: images must be a uint8 CPU Tensor[N, C, H, W]");
  const int64_t N = images.size(0), C = images.size(1), H = images.size(2), W = images.size(3);
  auto longs = [](const at::Tensor& t, int64_t n, const char* what) {
    TORCH_CHECK(t.dim() == 1 && t.size(0) == n, "distortx.pixelate_u8: ", what, " must be int64 Tensor[", n, "]");
    return t.to(at::kCPU, at::kLong).contiguous();
  };
  const int64_t w2 = lo_x.numel(), h2 = lo_y.numel();
  TORCH_CHECK(w2 >= 1 && h2 >= 1, "distortx.pixelate_u8: empty box runs");
  const at::Tensor lx = longs(lo_x, w2, "lo_x"), hx = longs(hi_x, w2, "hi_x"), wx = longs(w_x, w2, "w_x");
  const at::Tensor ly = longs(lo_y, h2, "lo_y"), hy = longs(hi_y, h2, "hi_y"), wy = longs(w_y, h2, "w_y");
  const at::Tensor ry = longs(rows, H, "rows"), cx = longs(cols, W, "cols");
  const int64_t *LX = lx.data_ptr<int64_t>(), *HX = hx.data_ptr<int64_t>(), *WX = wx.data_ptr<int64_t>();
  const int64_t *LY = ly.data_ptr<int64_t>(), *HY = hy.data_ptr<int64_t>(), *WY = wy.data_ptr<int64_t>();
  const int64_t *RY = ry.data_ptr<int64_t>(), *CX = cx.data_ptr<int64_t>();
  for (int64_t v = 0; v < w2; ++v) TORCH_CHECK(0 <= LX[v] && LX[v] < HX[v] && HX[v] <= W, "distortx.pixelate_u8: bad x run");
  for (int64_t u = 0; u < h2; ++u) TORCH_CHECK(0 <= LY[u] && LY[u] < HY[u] && HY[u] <= H, "distortx.pixelate_u8: bad y run");
  for (int64_t y = 0; y < H; ++y) TORCH_CHECK(0 <= RY[y] && RY[y] < h2, "distortx.pixelate_u8: bad row source");
  for (int64_t x = 0; x < W; ++x) TORCH_CHECK(0 <= CX[x] && CX[x] < w2, "distortx.pixelate_u8: bad column source");
  at::Tensor out = at::empty_like(images);
  const uint8_t* in = images.data_ptr<uint8_t>();
  uint8_t* o = out.data_ptr<uint8_t>();
  const int64_t sn = images.stride(0), sc = images.stride(1), sh = images.stride(2), sw = images.stride(3);
  const int64_t on = out.stride(0), oc = out.stride(1), oh = out.stride(2), ow = out.stride(3);
  at::parallel_for(0, N * C, 1, [&](int64_t a, int64_t b) {
    std::vector<uint8_t> across((size_t)(H * w2)), small((size_t)(h2 * w2));
    std::vector<int64_t> colsum((size_t)w2);
    for (int64_t t = a; t < b; ++t) {
      const uint8_t* p = in + (t / C) * sn + (t % C) * sc;
      uint8_t* q = o + (t / C) * on + (t % C) * oc;
      for (int64_t y = 0; y < H; ++y) {  // along x: each row's runs
        const uint8_t* row = p + y * sh;
        for (int64_t v = 0; v < w2; ++v) {
          int64_t sum = 0;
          for (int64_t x = LX[v]; x < HX[v]; ++x) sum += row[x * sw];
          across[y * w2 + v] = box_value(sum, WX[v]);
        }
      }
      for (int64_t u = 0; u < h2; ++u) {  // along y: runs of those rows
        std::fill(colsum.begin(), colsum.end(), 0);
        for (int64_t y = LY[u]; y < HY[u]; ++y)
          for (int64_t v = 0; v < w2; ++v) colsum[v] += across[y * w2 + v];
        for (int64_t v = 0; v < w2; ++v) small[u * w2 + v] = box_value(colsum[v], WY[u]);
      }
      for (int64_t y = 0; y < H; ++y) {  // nearest back up
        const uint8_t* src = small.data() + RY[y] * w2;
        uint8_t* dst = q + y * oh;
        for (int64_t x = 0; x < W; ++x) dst[x * ow] = src[CX[x]];
      }
    }
  });
  return out;
}

}  // namespace
}  // namespace distortx

TORCH_LIBRARY_IMPL(distortx, CPU, m) { m.impl("pixelate_u8", &distortx::pixelate_u8_cpu); }
