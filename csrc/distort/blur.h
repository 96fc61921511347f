// Blur family bodies (twin of distortx/distortions/blur.py; formulas in its docstrings).
#pragma once
#include <math.h>

#include "distort/region.h"
#include "distort/warp.h"

namespace distortx {

// ---- gaussian_blur: separable, radius r = blur.radius, weights w[2r+1] at scratch[blur.weights] (host-computed in float64,
// then float32), horizontal pass for rows sy0..sy0+sh-1 / columns x0..x1-1 at scratch[off] ([C][sh][sw]).

// Pre-pass element e of the horizontal pass: tmp(x, y) = sum_{k=-r..r} w_k in(clamp(x + k), y), in k order.
DX_HDI void dx_gaussian_rows(const DxRegion& g, float* scratch, const float* img, int, int H, int W, int64_t e) {
  const int r = g.blur.radius;
  const float* w = scratch + g.blur.weights;
  const int64_t per_c = (int64_t)g.sh * g.sw;
  const int c = (int)(e / per_c);
  const int64_t rem = e - c * per_c;
  const int yy = g.sy0 + (int)(rem / g.sw), xx = g.sx0 + (int)(rem % g.sw);
  const float* row = img + ((int64_t)c * H + yy) * W;
  float acc = w[0] * row[dx_clampi(xx - r, 0, W - 1)];
  for (int k = 1; k <= 2 * r; ++k) acc = acc + w[k] * row[dx_clampi(xx - r + k, 0, W - 1)];
  scratch[g.off + e] = acc;
}

// Vertical pass at (y, x): out = sum_{k=-r..r} w_k tmp(x, clamp(y + k)), in k order.
DX_HD void dx_gaussian_blur(const DxRegion& g, const float* scratch, const float*, int C, int H, int, int y, int x, float* o) {
  const int r = g.blur.radius;
  const float* w = scratch + g.blur.weights;
  const float* tmp = scratch + g.off;
  const int64_t per_c = (int64_t)g.sh * g.sw;
  const int col = x - g.sx0;
  for (int c = 0; c < C; ++c) {
    const float* t = tmp + c * per_c + col;
    float acc = w[0] * t[(int64_t)(dx_clampi(y - r, 0, H - 1) - g.sy0) * g.sw];
    for (int k = 1; k <= 2 * r; ++k) acc = acc + w[k] * t[(int64_t)(dx_clampi(y - r + k, 0, H - 1) - g.sy0) * g.sw];
    o[c] = acc;
  }
}

// ---- motion_blur: v = (length L, angle deg); n = max(1, ceil(L)) + 1 taps (host: motion.taps = n),
// t_i = -L/2 + L * i / (n - 1); out = (1/n) sum_i bilinear(x + t_i cos a, y - t_i sin a), motion.cos_a / sin_a.
DX_HD void dx_motion_blur(const DxRegion& g, const float*, const float* img, int C, int H, int W, int y, int x, float* o) {
  const int n = g.motion.taps;
  const float L = g.v[0], nf = (float)n, ca = g.motion.cos_a, sa = g.motion.sin_a;
  const float xs = (float)x, ys = (float)y;
  float acc[4] = {0.f, 0.f, 0.f, 0.f}, s[4];
  for (int i = 0; i < n; ++i) {
    const float t = (-0.5f * L) + (L * (float)i) / (nf - 1.0f);
    dx_bilinear(img, C, H, W, xs + t * ca, ys - t * sa, s);
    for (int c = 0; c < C; ++c) acc[c] = acc[c] + s[c];
  }
  for (int c = 0; c < C; ++c) o[c] = acc[c] / nf;
}

// ---- lowpass (= blur.lowpass_one, scikit-image's rescale + resize): down = anti-aliased downscale to
// h x w = lowpass.h x lowpass.w; cells i in [sy0, sy0+sh), j in [sx0, sx0+sw) at scratch[off] ([C][sh][sw]);
// up = bilinear, half-pixel centres, mirrored border, scale lowpass.sy = h/H, lowpass.sx = w/W (float32).

// Pre-pass element e: one cell (i, j) of the downscaled image = blur.antialias_taps along rows and columns:
// a Gaussian prefilter (sigma = max(0, (n_in/n_out - 1) / 2), radius r = int(4 sigma + 0.5)) and linear
// interpolation at c = (i + 0.5) n_in/n_out - 0.5 folded into 2r + 2 weights
// w[t] = (1 - f) g[t] + f g[t - 1] for the taps floor(c) - r + t (mirrored), f = c - floor(c).
// Host data: radii lowpass.ry, lowpass.rx; the normalised Gaussians, zero-padded on both sides
// ([0, g_0..g_2r, 0], float32), at scratch[lowpass.gy] and scratch[lowpass.gx]. Sums in double.
DX_HDI void dx_lowpass_cell(const DxRegion& g, float* scratch, const float* img, int, int H, int W, int64_t e) {
  const int h = g.lowpass.h, w = g.lowpass.w, ry = g.lowpass.ry, rx = g.lowpass.rx;
  const float* gy = scratch + g.lowpass.gy;
  const float* gx = scratch + g.lowpass.gx;
  const int64_t per_c = (int64_t)g.sh * g.sw;
  const int c = (int)(e / per_c);
  const int64_t rem = e - c * per_c;
  const int i = g.sy0 + (int)(rem / g.sw), j = g.sx0 + (int)(rem % g.sw);
  const double cy = ((double)i + 0.5) * ((double)H / (double)h) - 0.5, cx = ((double)j + 0.5) * ((double)W / (double)w) - 0.5;
  const double fy0 = floor(cy), fx0 = floor(cx), ty = cy - fy0, tx = cx - fx0;
  const int y0 = (int)fy0 - ry, x0 = (int)fx0 - rx;
  const float* plane = img + (int64_t)c * H * W;
  double sum = 0.0;
  for (int a = 0; a < 2 * ry + 2; ++a) {
    const double wa = (1.0 - ty) * (double)gy[a + 1] + ty * (double)gy[a];
    if (wa == 0.0) continue;
    const float* row = plane + (int64_t)dx_reflect(y0 + a, H) * W;
    double acc = 0.0;
    for (int b = 0; b < 2 * rx + 2; ++b)
      acc += ((1.0 - tx) * (double)gx[b + 1] + tx * (double)gx[b]) * (double)row[dx_reflect(x0 + b, W)];
    sum += wa * acc;
  }
  scratch[g.off + e] = (float)sum;
}

// Source coordinate of output index d on a grid scaled by s (half-pixel centres, mirrored into [0, n-1];
// 0 when n = 1), the cell pair (i0, i1) and the weight of i1.
DX_HDI void dx_linear_src(int d, float s, int n, int& i0, int& i1, float& f) {
  float src = s * ((float)d + 0.5f) - 0.5f;
  if (n == 1) {
    src = 0.f;
  } else {
    const float top = (float)(n - 1);
    if (src < 0.f) src = -src;
    if (src > top) src = (top + top) - src;
  }
  i0 = (int)src;
  if (i0 > n - 1) i0 = n - 1;
  i1 = i0 + (i0 < n - 1 ? 1 : 0);
  f = src - (float)i0;
}

DX_HD void dx_lowpass(const DxRegion& g, const float* scratch, const float*, int C, int, int, int y, int x, float* o) {
  int i0, i1, j0, j1;
  float fy, fx;
  dx_linear_src(y, g.lowpass.sy, g.lowpass.h, i0, i1, fy);
  dx_linear_src(x, g.lowpass.sx, g.lowpass.w, j0, j1, fx);
  const float* d = scratch + g.off;
  const int64_t per_c = (int64_t)g.sh * g.sw;
  const int64_t r0 = (int64_t)(i0 - g.sy0) * g.sw, r1 = (int64_t)(i1 - g.sy0) * g.sw;
  const int c0 = j0 - g.sx0, c1 = j1 - g.sx0;
  for (int c = 0; c < C; ++c) {
    const float* p = d + c * per_c;
    o[c] = (1.0f - fy) * ((1.0f - fx) * p[r0 + c0] + fx * p[r0 + c1]) + fy * ((1.0f - fx) * p[r1 + c0] + fx * p[r1 + c1]);
  }
}

}  // namespace distortx
