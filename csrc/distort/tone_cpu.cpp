// Fast CPU loops of the tone family (tone.h): the mean-luminance hook and the quantization / contrast rows.
#include "distort/cpu_rows.h"

namespace distortx {
namespace cpu {

// Mean BT.601 luminance (tone.mean_luminance) of image n: per pixel 0.299 R + 0.587 G + 0.114 B in float32 as
// torch evaluates (images * w).sum(1), accumulated in double (torch: float32 cascade sums; ~1e-7 apart).
void cpu_mean_luma(const at::Tensor& images, const std::vector<int64_t>& which, float* out) {
  const int64_t C = images.size(1), HW = images.size(2) * images.size(3);
  const float* in = images.data_ptr<float>();
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t k = 0; k < (int64_t)which.size(); ++k) {
    const float* p = in + which[k] * C * HW;
    double acc = 0.0;
    if (C == 3) {
      for (int64_t i = 0; i < HW; ++i) acc += (double)((p[i] * 0.299f + p[HW + i] * 0.587f) + p[2 * HW + i] * 0.114f);
    } else {
      for (int64_t i = 0; i < HW; ++i) acc += (double)p[i];
    }
    out[k] = (float)(acc / (double)HW);
  }
}

// = dx_quantization
DX_CLONES void row_quantization(const DxBatch& b, const DxRegion& g, int n, int y, int xa, int xb, RowTmp& t) {
  DX_ROW_VARS;
  const float L = g.quant.levels;
  for (int c = 0; c < C; ++c) {
    const int64_t base = c * plane + rowoff;
#pragma omp simd
    for (int j = 0; j < len; ++j) out[base + j] = dx_clamp01(dx_quantize(img[base + j], L));
  }
}

// = dx_contrast
DX_CLONES void row_contrast(const DxBatch& b, const DxRegion& g, int n, int y, int xa, int xb, RowTmp& t) {
  DX_ROW_VARS;
  const float amt = g.v[0], gray = b.scratch[g.off], keep = 1.0f - amt, add = amt * gray;
  for (int c = 0; c < C; ++c) {
    const int64_t base = c * plane + rowoff;
#pragma omp simd
    for (int j = 0; j < len; ++j) out[base + j] = dx_clamp01(keep * img[base + j] + add);
  }
}

}  // namespace cpu
}  // namespace distortx
