// Plan functions of the warp family (warp.h): twirl, marble.
#include <algorithm>
#include <cmath>

#include "distort/distort_plan.h"

namespace distortx {

void dx_plan_twirl(DxRegion& g, DxPlanner& p) {
  g.twirl.angle = g.v[0] * (float)(M_PI / 180.0);
  g.twirl.radius = g.v[1] * (float)(std::min(p.H, p.W) / 2.0);
  g.twirl.ox = g.v[2] * (float)(p.W - 1);
  g.twirl.oy = g.v[3] * (float)(p.H - 1);
  g.twirl.active = (g.twirl.angle != 0.0f && g.twirl.radius > 0.0f) ? 1 : 0;
}

// the lattice corners under the box: floor(x / scale) .. floor((x1-1) / scale) + 1
void dx_plan_marble(DxRegion& g, DxPlanner& p) {
  const float scale = g.v[1];
  g.sx0 = (int)std::floor((float)g.x0 / scale), g.sw = (int)std::floor((float)(g.x1 - 1) / scale) + 2 - g.sx0;
  g.sy0 = (int)std::floor((float)g.y0 / scale), g.sh = (int)std::floor((float)(g.y1 - 1) / scale) + 2 - g.sy0;
  p.prepass((int64_t)g.sw * g.sh, 2 * (int64_t)g.sw * g.sh);
}

}  // namespace distortx
