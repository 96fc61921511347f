// Tone family per-pixel bodies (twin of distortx/distortions/tone.py).
#pragma once
#include "distort/region.h"

namespace distortx {

// quantization: steps = max(round(L) - 1, 1) (host: a[0]); round-half-even(x * steps) / steps
DX_HD void dx_quantization(const DxRegion& g, const float* img, int C, int H, int W, int y, int x, float* o) {
  const int64_t plane = (int64_t)H * W, p = (int64_t)y * W + x;
  const float steps = g.a[0];
  for (int c = 0; c < C; ++c) o[c] = rintf(img[c * plane + p] * steps) / steps;
}

// contrast: (1 - a) * x + a * gray, gray = the image's mean BT.601 luminance (pre-pass: scratch[off])
DX_HD void dx_contrast(const DxRegion& g, const float* scratch, const float* img, int C, int H, int W, int y, int x, float* o) {
  const int64_t plane = (int64_t)H * W, p = (int64_t)y * W + x;
  const float amt = g.v[0], gray = scratch[g.off];
  for (int c = 0; c < C; ++c) o[c] = (1.0f - amt) * img[c * plane + p] + amt * gray;
}

}  // namespace distortx
