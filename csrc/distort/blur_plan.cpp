// Plan functions of the blur family (blur.h): gaussian_blur, motion_blur, lowpass.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "distort/blur.h"
#include "distort/distort_plan.h"

namespace distortx {

// = blur.gaussian_kernel1d; the rows the vertical pass of the box reads
void dx_plan_gaussian_blur(DxRegion& g, DxPlanner& p) {
  const double sigma = (double)g.v[0];
  if (sigma < 1e-6) {
    g.code = DX_IDENTITY;
    return;
  }
  const int r = std::max(1, (int)std::ceil(2.0 * sigma));
  uint32_t key;  // weights shared by every region with the same sigma (float bits)
  std::memcpy(&key, &g.v[0], 4);
  g.blur.radius = r;
  g.blur.weights = p.constants(DX_GAUSSIAN_BLUR, key, [&] {
    std::vector<double> w(2 * r + 1);
    double sum = 0.0;
    for (int k = -r; k <= r; ++k) sum += (w[k + r] = std::exp(-(double)(k * k) / (2.0 * sigma * sigma)));
    std::vector<float> out;
    for (double wk : w) out.push_back((float)(wk / sum));
    return out;
  });
  g.sx0 = g.x0, g.sw = g.x1 - g.x0;
  g.sy0 = std::max<int>(0, g.y0 - r);
  g.sh = std::min<int>((int)p.H, g.y1 + r) - g.sy0;
  p.prepass(p.C * (int64_t)g.sh * g.sw, p.C * (int64_t)g.sh * g.sw);
}

void dx_plan_motion_blur(DxRegion& g, DxPlanner&) {
  const float L = g.v[0];
  if (L == 0.0f) {
    g.code = DX_IDENTITY;
    return;
  }
  g.motion.taps = (int)(std::max(1.0f, std::ceil(L)) + 1.0f);
  const float a = g.v[1] * (float)(M_PI / 180.0);
  g.motion.cos_a = std::cos(a), g.motion.sin_a = std::sin(a);
}

// = blur.lowpass_one; the down cells the box's bilinear upsampling reads
void dx_plan_lowpass(DxRegion& g, DxPlanner& p) {
  const double s = (double)g.v[0];
  if (s >= 1.0) {
    g.code = DX_IDENTITY;
    return;
  }
  const int64_t H = p.H, W = p.W;
  const int h = std::max(1, (int)std::nearbyint(H * s)), w = std::max(1, (int)std::nearbyint(W * s));  // half to even
  g.lowpass.h = h, g.lowpass.w = w;
  g.lowpass.sy = (float)h / (float)H, g.lowpass.sx = (float)w / (float)W;
  for (int axis = 0; axis < 2; ++axis) {  // = blur.antialias_taps: the normalised Gaussian, zero-padded
    const int n_out = axis == 0 ? h : w;
    const double factor = axis == 0 ? (double)H / h : (double)W / w;
    const double sigma = std::max(0.0, (factor - 1.0) / 2.0);
    const int r = sigma > 1e-15 ? (int)(4.0 * sigma + 0.5) : 0;
    const int32_t at = p.constants(DX_LOWPASS, 2 * (int64_t)n_out + axis, [&] {
      std::vector<double> gk(2 * r + 1);
      double sum = 0.0;
      for (int d = -r; d <= r; ++d) sum += (gk[d + r] = r > 0 ? std::exp(-0.5 / (sigma * sigma) * (double)d * d) : 1.0);
      std::vector<float> out{0.0f};
      for (double v : gk) out.push_back((float)(v / sum));
      out.push_back(0.0f);
      return out;
    });
    (axis == 0 ? g.lowpass.ry : g.lowpass.rx) = r;
    (axis == 0 ? g.lowpass.gy : g.lowpass.gx) = at;
  }
  // mirrored source rows are not monotonic near the borders: take both ends' extremes
  int i0a, i1a, i0b, i1b, j0a, j1a, j0b, j1b;
  float f;
  dx_linear_src(g.y0, g.lowpass.sy, h, i0a, i1a, f);
  dx_linear_src(g.y1 - 1, g.lowpass.sy, h, i0b, i1b, f);
  dx_linear_src(g.x0, g.lowpass.sx, w, j0a, j1a, f);
  dx_linear_src(g.x1 - 1, g.lowpass.sx, w, j0b, j1b, f);
  g.sy0 = std::min(i0a, i0b), g.sh = std::max(i1a, i1b) - g.sy0 + 1;
  g.sx0 = std::min(j0a, j0b), g.sw = std::max(j1a, j1b) - g.sx0 + 1;
  p.prepass(p.C * (int64_t)g.sh * g.sw, p.C * (int64_t)g.sh * g.sw);
}

}  // namespace distortx
