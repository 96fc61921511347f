// Warp family bodies and the shared bilinear sampler (twin of distortx/distortions/warp.py).
#pragma once
#include <string.h>

#include "distort/region.h"

namespace distortx {

// Bilinear sample of all C channels at (sx, sy), pixel-centre coordinates, replicate border.
DX_HDI void dx_bilinear(const float* img, int C, int H, int W, float sx, float sy, float* o) {
  const float x0f = floorf(sx), y0f = floorf(sy);
  const float fx = sx - x0f, fy = sy - y0f;
  // clamp in float first so huge coordinates cannot overflow the int conversion
  const float xm = (float)W, ym = (float)H;
  const int x0 = (int)dx_clampf(x0f, -1.f, xm), y0 = (int)dx_clampf(y0f, -1.f, ym);
  const int xa = dx_clampi(x0, 0, W - 1), xb = dx_clampi(x0 + 1, 0, W - 1);
  const int ya = dx_clampi(y0, 0, H - 1), yb = dx_clampi(y0 + 1, 0, H - 1);
  const int64_t plane = (int64_t)H * W;
  for (int c = 0; c < C; ++c) {
    const float* p = img + c * plane;
    const float top = (1.0f - fx) * p[(int64_t)ya * W + xa] + fx * p[(int64_t)ya * W + xb];
    const float bot = (1.0f - fx) * p[(int64_t)yb * W + xa] + fx * p[(int64_t)yb * W + xb];
    o[c] = (1.0f - fy) * top + fy * bot;
  }
}

// ---- vectorisable trigonometry (Cephes-style, <= 2 ulp; torch/libm agree to ~1e-7): shared by CPU and CUDA.
DX_HDI uint32_t dx_fbits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
DX_HDI float dx_bitsf(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
// Branch-free select by a 0 / ~0 mask (plain ?: on floats is not if-converted under -ftrapping-math).
DX_HDI uint32_t dx_mask(bool m) { return 0u - (uint32_t)m; }
DX_HDI float dx_fsel(uint32_t k, float a, float b) { return dx_bitsf((dx_fbits(a) & k) | (dx_fbits(b) & ~k)); }

// sin(x) and cos(x) for |x| < 8192: octant reduction with a 3-part pi/4, both polynomials, selects.
DX_HDI void dx_sincosf(float x, float& s_out, float& c_out) {
  const float ax = fabsf(x);
  int j = (int)(ax * 1.27323954473516f);
  j += j & 1;
  const float y = (float)j;
  const float r = ((ax - y * 0.78515625f) - y * 2.4187564849853515625e-4f) - y * 3.77489497744594108e-8f;
  const uint32_t q = (uint32_t)(j & 7);  // 0, 2, 4, 6
  const float z = r * r;
  const float c = ((2.443315711809948e-5f * z - 1.388731625493765e-3f) * z + 4.166664568298827e-2f) * z * z - 0.5f * z + 1.0f;
  const float s = ((-1.9515295891e-4f * z + 8.3321608736e-3f) * z - 1.6666654611e-1f) * z * r + r;
  const uint32_t odd = 0u - ((q >> 1) & 1u);                    // q = 2, 6
  const float cv = dx_fsel(odd, s, c), sv = dx_fsel(odd, c, s);
  const uint32_t cneg = ((q + 2u) & 4u) << 29;                  // cos: q = 2, 4 negative
  const uint32_t sneg = ((q & 4u) << 29) ^ (dx_fbits(x) & 0x80000000u);  // sin: q = 4, 6 negative; odd in x
  c_out = dx_bitsf(dx_fbits(cv) ^ cneg);
  s_out = dx_bitsf(dx_fbits(sv) ^ sneg);
}

// atan2(y, x), with atan2(0, 0) = 0: Cephes atanf on min/max, then octant fix-ups.
DX_HDI float dx_atan2f(float y, float x) {
  const float ax = fabsf(x), ay = fabsf(y);
  const uint32_t yb = dx_mask(ay > ax);
  const float mx = dx_fsel(yb, ay, ax), mn = dx_fsel(yb, ax, ay);
  const float t = mn / dx_fsel(dx_mask(mx > 0.0f), mx, 1.0f);  // in [0, 1]
  const uint32_t big = dx_mask(t > 0.4142135623730950f);          // tan(pi/8)
  const float z = dx_fsel(big, (t - 1.0f) / (t + 1.0f), t);
  const float z2 = z * z;
  float r = (((8.05374449538e-2f * z2 - 1.38776856032e-1f) * z2 + 1.99777106478e-1f) * z2 - 3.33329491539e-1f) * z2 * z + z;
  r = r + dx_fsel(big, 0.785398163397448309616f, 0.0f);
  r = dx_fsel(yb, 1.57079632679489661923f - r, r);
  r = dx_fsel(dx_mask(x < 0.0f), 3.14159265358979323846f - r, r);
  return dx_bitsf(dx_fbits(r) ^ (dx_fbits(y) & 0x80000000u));
}

// ---- twirl: v = (angle deg, radius, cx, cy); host: twirl = (angle rad, radius px, ox, oy, active = A != 0 and R > 0).
DX_HDI void dx_twirl(const DxRegion& g, const float*, const float* img, int C, int H, int W, int y, int x, float* o) {
  const float A = g.twirl.angle, R = g.twirl.radius, ox = g.twirl.ox, oy = g.twirl.oy;
  const float dx = (float)x - ox, dy = (float)y - oy;
  const float d = sqrtf(dx * dx + dy * dy);
  if (g.twirl.active == 0 || !(d < R)) {
    const int64_t plane = (int64_t)H * W, p = (int64_t)y * W + x;
    for (int c = 0; c < C; ++c) o[c] = img[c * plane + p];
    return;
  }
  const float a = dx_atan2f(dy, dx) + A * (R - d) / R;
  float sa, ca;
  dx_sincosf(a, sa, ca);
  dx_bilinear(img, C, H, W, ox + d * ca, oy + d * sa, o);
}

// ---- marble: v = (amount, scale); Perlin gradient noise with lattice angles from the counter RNG (stream 2).
// Pre-pass: the gradients (cos t, sin t) of the lattice corners the box reads, i in [sx0, sx0+sw),
// j in [sy0, sy0+sh), at scratch[off + 2 ((j - sy0) sw + (i - sx0))].
DX_HDI float dx_fade(float t) { return t * t * t * (t * (t * 6.0f - 15.0f) + 10.0f); }

DX_HD void dx_marble_lattice(const DxRegion& g, float* scratch, const float*, int, int, int, int64_t e) {
  const int64_t P = 65536;
  const int64_t i = g.sx0 + e % g.sw, j = g.sy0 + e / g.sw;
  const int64_t im = ((i % P) + P) % P, jm = ((j % P) + P) % P;
  const float th = 6.2831853071795864769f * uniform01(g.seed, jm * P + im, 2u);
  scratch[g.off + 2 * e] = cosf(th);
  scratch[g.off + 2 * e + 1] = sinf(th);
}

DX_HDI float dx_lattice_dot(const DxRegion& g, const float* scratch, int i, int j, float du, float dv) {
  const int k = 2 * ((j - g.sy0) * g.sw + (i - g.sx0));
  return scratch[g.off + k] * du + scratch[g.off + k + 1] * dv;
}

DX_HDI float dx_perlin(const DxRegion& g, const float* scratch, float u, float v) {
  const float i0f = floorf(u), j0f = floorf(v);
  const float fu = u - i0f, fv = v - j0f;
  const int i0 = (int)i0f, j0 = (int)j0f;
  const float n00 = dx_lattice_dot(g, scratch, i0, j0, fu, fv);
  const float n10 = dx_lattice_dot(g, scratch, i0 + 1, j0, fu - 1.0f, fv);
  const float n01 = dx_lattice_dot(g, scratch, i0, j0 + 1, fu, fv - 1.0f);
  const float n11 = dx_lattice_dot(g, scratch, i0 + 1, j0 + 1, fu - 1.0f, fv - 1.0f);
  const float su = dx_fade(fu), sv = dx_fade(fv);
  const float nx0 = n00 + su * (n10 - n00);
  const float nx1 = n01 + su * (n11 - n01);
  return nx0 + sv * (nx1 - nx0);
}

// out(x, y) = bilinear(x - m sin(phi), y + m cos(phi)), phi = pi (1 + perlin(x / scale, y / scale)), m = amount * scale
DX_HDI void dx_marble(const DxRegion& g, const float* scratch, const float* img, int C, int H, int W, int y, int x, float* o) {
  const float scale = g.v[1];
  const float xs = (float)x, ys = (float)y;
  const float n = dx_perlin(g, scratch, xs / scale, ys / scale);
  const float phi = 3.14159265358979323846f * (1.0f + n);
  const float m = g.v[0] * scale;
  float sp, cp;
  dx_sincosf(phi, sp, cp);
  dx_bilinear(img, C, H, W, xs + (-m) * sp, ys + m * cp, o);
}

}  // namespace distortx
