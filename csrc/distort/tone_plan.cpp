// Plan functions of the tone family (tone.h) and its torch pre-pass, the mean luminance of contrast.
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "distort/distort_plan.h"

namespace distortx {

void dx_plan_quantization(DxRegion& g, DxPlanner&) { g.quant.levels = std::clamp(std::nearbyint(g.v[0]), 2.0f, 256.0f); }

void dx_plan_contrast(DxRegion&, DxPlanner& p) { p.mean_luma(); }  // the grey level: see the scratch layout

void dx_mean_luma_aten(const at::Tensor& images, const std::vector<int64_t>& which, float* out) {
  const int64_t K = (int64_t)which.size();
  at::Tensor sel = images.index_select(0, at::tensor(which, at::TensorOptions().dtype(at::kLong)).to(images.device()));
  at::Tensor lum = images.size(1) == 3
      ? (sel * at::tensor({0.299f, 0.587f, 0.114f}, images.options()).reshape({1, 3, 1, 1})).sum(1)
      : sel.select(1, 0);
  at::from_blob(out, {K}, images.options()).copy_(lum.mean(at::IntArrayRef{1, 2}));
}

}  // namespace distortx
