// The per-pixel dispatch of the fused distortion kernel, shared by the CPU loop and the CUDA kernel.
#pragma once
#include "distort/region.h"
#include "distort/noise.h"
#include "distort/tone.h"

namespace distortx {

// Channel values of pixel (y, x) of image n distorted by region g, before the clamp to [0, 1].
DX_HD void dx_pixel(const DxBatch& b, const DxRegion& g, int n, int y, int x, float* o) {
  const int C = b.C, H = b.H, W = b.W;
  const float* img = b.in + (int64_t)n * C * H * W;
  switch (g.code) {
    case DX_GAUSSIAN_NOISE:
    case DX_GAUSSIAN_NOISE_SIGMA: dx_gaussian_noise(g, g.a[0], img, C, H, W, y, x, o); break;
    case DX_MONO_GAUSSIAN_NOISE: dx_mono_noise(g, img, C, H, W, y, x, o); break;
    case DX_SALT_PEPPER: dx_salt_pepper(g, img, C, H, W, y, x, o); break;
    case DX_FNOISE: dx_fnoise(g, b.scratch, img, C, H, W, y, x, o); break;
    case DX_QUANTIZATION: dx_quantization(g, img, C, H, W, y, x, o); break;
    case DX_CONTRAST: dx_contrast(g, b.scratch, img, C, H, W, y, x, o); break;
    default: {  // not reached: the planner rejects codes without a native body
      const int64_t plane = (int64_t)H * W, p = (int64_t)y * W + x;
      for (int c = 0; c < C; ++c) o[c] = img[c * plane + p];
    }
  }
}

// Writes the whole output pixel (y, x) of image n: the winning region's value clamped, or a copy.
DX_HD void dx_output_pixel(const DxBatch& b, int n, int y, int x) {
  const int C = b.C;
  const int64_t plane = (int64_t)b.H * b.W, p = (int64_t)y * b.W + x, base = (int64_t)n * C * plane;
  const DxRegion* regs = b.regs + (int64_t)n * b.R;
  const int r = dx_winner(regs, b.R, y, x);
  if (r < 0) {
    for (int c = 0; c < C; ++c) b.out[base + c * plane + p] = b.in[base + c * plane + p];
    return;
  }
  float o[4];
  dx_pixel(b, regs[r], n, y, x, o);
  for (int c = 0; c < C; ++c) b.out[base + c * plane + p] = dx_clamp01(o[c]);
}

}  // namespace distortx
