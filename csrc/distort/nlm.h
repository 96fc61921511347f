// Non-local means (twin of distortx/distortions/nlm.py: scikit-image's fast-mode denoise_nl_means with
// patch_size 7, patch_distance 11, sigma 0, including its quirks: numpy "reflect" border, a 6x6 box for the
// patch distance normalised by 49, distance cut-off 5 and Schraudolph's fast_exp). float64 maths.
//
// Region data (planner): a[0] unused; the normaliser C h^2 49 is recomputed in double from v[0] = h; the
// result of the box (C x bh x bw floats, bh = y1 - y0, bw = x1 - x0) is written at scratch[off].
// The CUDA pre-pass runs dx_nlm_direct once per box pixel; the CPU pre-pass sweeps the 529 offsets over row
// bands with separable box sums (same terms, summed in another order: ~1e-12 apart before the float cast).
#pragma once
#include <string.h>

#include "distort/region.h"

namespace distortx {

#define DXN_D 11         // patch distance: offsets -11..11
#define DXN_O 3          // patch_size // 2
#define DXN_CUTOFF 5.0

// skimage's fast_exp (Schraudolph) for -5 <= y <= 0: the double whose high 32-bit word is
// k = trunc(A y) + BC and whose low word is 0 (= 2^((k >> 20) - 1023) (1 + (k & 0xFFFFF) / 2^20)).
DX_HDI double dx_fast_exp(double y) {
  const int64_t k = (int64_t)(1512775.3951951856938 * y) + 1072632447;  // the cast truncates
  const uint64_t bits = (uint64_t)k << 32;
  double r;
  memcpy(&r, &bits, 8);
  return r;
}

// Weight of an offset from its raw 6x6 patch distance D: 0 beyond the cut-off, else fast_exp(-dist).
DX_HDI double dx_nlm_weight(double D, double norm) {
  const double dist = (D > 0.0 ? D : 0.0) / norm;
  const double w = dx_fast_exp(-(dist < DXN_CUTOFF ? dist : DXN_CUTOFF));
  return dist > DXN_CUTOFF ? 0.0 : w;
}

DX_HD double dx_nlm_norm(int C, float h) {
  const double hd = (double)h;
  return (double)C * (hd * hd) * 49.0;
}

// Direct per-pixel NL-means at (y, x): o[c] = sum_t w_t J[c, p + t] / sum_t w_t, J = reflect-padded image.
DX_HD void dx_nlm_direct(const float* img, int C, int H, int W, double norm, int y, int x, float* o) {
  const int64_t plane = (int64_t)H * W;
  double acc[3] = {0.0, 0.0, 0.0}, wsum = 0.0;
  for (int ty = -DXN_D; ty <= DXN_D; ++ty) {
    for (int tx = -DXN_D; tx <= DXN_D; ++tx) {
      double D = 0.0;
      for (int a = -DXN_O + 1; a <= DXN_O; ++a) {
        const int64_t r0 = (int64_t)dx_reflect(y + a, H) * W, r1 = (int64_t)dx_reflect(y + ty + a, H) * W;
        for (int b = -DXN_O + 1; b <= DXN_O; ++b) {
          const int c0 = dx_reflect(x + b, W), c1 = dx_reflect(x + tx + b, W);
          for (int c = 0; c < C; ++c) {
            const double d = (double)img[c * plane + r0 + c0] - (double)img[c * plane + r1 + c1];
            D += d * d;
          }
        }
      }
      const double w = dx_nlm_weight(D, norm);
      const int64_t q = (int64_t)dx_reflect(y + ty, H) * W + dx_reflect(x + tx, W);
      for (int c = 0; c < C; ++c) acc[c] += w * (double)img[c * plane + q];
      wsum += w;
    }
  }
  for (int c = 0; c < C; ++c) o[c] = (float)(acc[c] / wsum);
}

// Pre-pass element e (CUDA): box pixel e of the region, written to its [C][bh][bw] plane.
DX_HD void dx_nlm_pixel_pass(const DxRegion& g, float* scratch, const float* img, int C, int H, int W, int64_t e) {
  const int bw = g.x1 - g.x0, bh = g.y1 - g.y0;
  const int y = g.y0 + (int)(e / bw), x = g.x0 + (int)(e % bw);
  float o[3];
  dx_nlm_direct(img, C, H, W, dx_nlm_norm(C, g.v[0]), y, x, o);
  for (int c = 0; c < C; ++c) scratch[g.off + ((int64_t)c * bh + (y - g.y0)) * bw + (x - g.x0)] = o[c];
}

// Main pass: copy the pre-computed value.
DX_HD void dx_nlm(const DxRegion& g, const float* scratch, int C, int y, int x, float* o) {
  const int bw = g.x1 - g.x0, bh = g.y1 - g.y0;
  for (int c = 0; c < C; ++c) o[c] = scratch[g.off + ((int64_t)c * bh + (y - g.y0)) * bw + (x - g.x0)];
}

}  // namespace distortx
