// Fast CPU loops of the warp family (warp.h): twirl and marble rows.
#include "distort/cpu_rows.h"

namespace distortx {
namespace cpu {

// = dx_twirl: source positions vectorised, bilinear taps gathered
DX_CLONES bool row_twirl(const DxBatch& b, const DxRegion& g, int n, int y, int xa, int xb, RowTmp& t) {
  DX_ROW_VARS;
  if (g.twirl.active == 0) return false;  // angle 0 or radius 0: a copy (the per-pixel body)
  const float Ang = g.twirl.angle, R = g.twirl.radius, ox = g.twirl.ox, oy = g.twirl.oy, dy = (float)y - oy;
  float* SX = t.acc.data();
  float* SY = SX + len;
#pragma omp simd
  for (int j = 0; j < len; ++j) {
    const float dx = (float)(xa + j) - ox;
    A[j] = dx * dx + dy * dy;
  }
  sqrt_n(A, len);
#pragma omp simd
  for (int j = 0; j < len; ++j) {
    const float dx = (float)(xa + j) - ox, d = A[j];
    const float a = dx_atan2f(dy, dx) + Ang * (R - d) / R;
    float sa, ca;
    dx_sincosf(a, sa, ca);
    SX[j] = ox + d * ca;
    SY[j] = oy + d * sa;
  }
  float o[4];
  for (int j = 0; j < len; ++j) {
    const int64_t p = rowoff + j;
    if (A[j] < R) {
      dx_bilinear(img, C, H, W, SX[j], SY[j], o);
      for (int c = 0; c < C; ++c) out[c * plane + p] = dx_clamp01(o[c]);
    } else {
      for (int c = 0; c < C; ++c) out[c * plane + p] = dx_clamp01(img[c * plane + p]);
    }
  }
  return true;
}

// = dx_marble: noise gathered from the lattice table, displacement vectorised
DX_CLONES void row_marble(const DxBatch& b, const DxRegion& g, int n, int y, int xa, int xb, RowTmp& t) {
  DX_ROW_VARS;
  const float scale = g.v[1], m = g.v[0] * scale, ys = (float)y;
  float* SX = t.acc.data();
  float* SY = SX + len;
  for (int j = 0; j < len; ++j) A[j] = dx_perlin(g, b.scratch, (float)(xa + j) / scale, ys / scale);
#pragma omp simd
  for (int j = 0; j < len; ++j) {
    const float xs = (float)(xa + j);
    const float phi = 3.14159265358979323846f * (1.0f + A[j]);
    float sp, cp;
    dx_sincosf(phi, sp, cp);
    SX[j] = xs + (-m) * sp;
    SY[j] = ys + m * cp;
  }
  float o[4];
  for (int j = 0; j < len; ++j) {
    dx_bilinear(img, C, H, W, SX[j], SY[j], o);
    for (int c = 0; c < C; ++c) out[c * plane + rowoff + j] = dx_clamp01(o[c]);
  }
}

}  // namespace cpu
}  // namespace distortx
