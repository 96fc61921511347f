// Plan function of nlm_denoise (nlm.h): the denoised box as a pre-pass.
#include "distort/distort_plan.h"

namespace distortx {

void dx_plan_nlm(DxRegion& g, DxPlanner& p) {
  if (!(g.v[0] > 0.0f)) {  // h = 0: identity (as the reference)
    g.code = DX_IDENTITY;
    return;
  }
  // one element per box pixel (the CPU's direct body; CUDA runs tiles: dx_launch_plan)
  const int64_t pixels = (int64_t)(g.y1 - g.y0) * (g.x1 - g.x0);
  p.prepass(pixels, p.C * pixels);
}

}  // namespace distortx
