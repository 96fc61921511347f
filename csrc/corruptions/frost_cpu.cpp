// ImageNet-C frost's blend on uint8 images (distortx/corruptions/weather.py frost_u8): out = clamp(keep x + amount
// frost, 0, 1) in the float form's float32 operations (x keep, frost amount, their sum: each rounded once; the
// frost crop read in place from its bank picture through its strides), x read as v / 255 and the rows written
// truncated as unit_to_u8 writes them: the bytes corrupt() made from the float form, with no float image.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <vector>

#include "corruptions/unit.h"

namespace distortx {
namespace {

at::Tensor frost_blend_u8_cpu(const at::Tensor& x_, at::TensorList crops, double keep_, double amount_) {
  TORCH_CHECK(x_.scalar_type() == at::kByte && x_.dim() == 4 && x_.device().is_cpu() && x_.size(1) == 3,
              "distortx.frost_blend_u8: x must be a uint8 CPU Tensor[N, 3, H, W]");
  const int64_t N = x_.size(0), C = 3, H = x_.size(2), W = x_.size(3), area = H * W;
  TORCH_CHECK((int64_t)crops.size() == N, "distortx.frost_blend_u8: one frost crop per image");
  for (const at::Tensor& c : crops)
    TORCH_CHECK(c.scalar_type() == at::kFloat && c.dim() == 3 && c.size(0) == 3 && c.size(1) == H && c.size(2) == W &&
                    c.device().is_cpu(),
                "distortx.frost_blend_u8: each crop must be a float32 CPU Tensor[3, H, W] of x's H, W");
  const U8Batch batch = u8_batch(x_);
  const at::Tensor& x = batch.x;
  const bool last = batch.last;
  at::Tensor out = empty_u8_like(batch);
  if (x.numel() == 0) return out;
  const float keep = (float)keep_, amount = (float)amount_;  // torch's float32 scalars
  const uint8_t* in = x.data_ptr<uint8_t>();
  uint8_t* o = out.data_ptr<uint8_t>();
  at::parallel_for(0, N, 1, [&](int64_t a, int64_t b) {
    std::vector<float> rows((size_t)(C * W));
    for (int64_t n = a; n < b; ++n) {
      const at::Tensor& crop = crops[n];
      const float* f = crop.data_ptr<float>();
      const int64_t sc = crop.stride(0), sy = crop.stride(1), sx = crop.stride(2);
      for (int64_t y = 0; y < H; ++y) {
        read_unit_row(in + n * C * area, last, C, H, W, y, rows.data());
        for (int64_t c = 0; c < C; ++c) {
          float* r = rows.data() + c * W;
          const float* fr = f + c * sc + y * sy;
          for (int64_t k = 0; k < W; ++k) {
            const float v = r[k] * keep + fr[k * sx] * amount;
            r[k] = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
          }
        }
        write_u8_row(rows.data(), last, C, H, W, y, o + n * C * area);
      }
    }
  });
  return out;
}

}  // namespace
}  // namespace distortx

TORCH_LIBRARY_IMPL(distortx, CPU, m) { m.impl("frost_blend_u8", &distortx::frost_blend_u8_cpu); }
