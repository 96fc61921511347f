// Tone family per-pixel bodies (twin of distortx/distortions/tone.py).
#pragma once
#include "distort/region.h"

namespace distortx {

// quantization: L bins (host: quant.levels = clamp(round(L), 2, 256)); the 8-bit value v = clamp(rint(255 x), 0, 255)
// becomes its bin's lower edge floor(floor(v * L / 256) * 256 / L) / 255 (float32, exact on these integers).
// Both floors are of non-negative values: truncations to int (vectorise everywhere), equal to floorf.
DX_HDI float dx_quantize(float x, float L) {
  const float v = dx_clampf(rintf(x * 255.0f), 0.0f, 255.0f);
  const float q = (float)(int)(v * L / 256.0f);
  return (float)(int)(q * 256.0f / L) / 255.0f;
}

DX_HD void dx_quantization(const DxRegion& g, const float*, const float* img, int C, int H, int W, int y, int x, float* o) {
  const int64_t plane = (int64_t)H * W, p = (int64_t)y * W + x;
  const float L = g.quant.levels;
  for (int c = 0; c < C; ++c) o[c] = dx_quantize(img[c * plane + p], L);
}

// contrast: (1 - a) * x + a * gray, gray = the image's mean BT.601 luminance (pre-pass: scratch[off])
DX_HD void dx_contrast(const DxRegion& g, const float* scratch, const float* img, int C, int H, int W, int y, int x, float* o) {
  const int64_t plane = (int64_t)H * W, p = (int64_t)y * W + x;
  const float amt = g.v[0], gray = scratch[g.off];
  for (int c = 0; c < C; ++c) o[c] = (1.0f - amt) * img[c * plane + p] + amt * gray;
}

}  // namespace distortx
