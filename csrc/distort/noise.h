// Noise family per-pixel bodies (twin of distortx/distortions/noise.py; formulas in its docstring).
// Each body writes the C channel values of pixel (y, x) to o[0..C-1], before the final clamp to [0, 1].
#pragma once
#include "distort/region.h"

namespace distortx {

// Bodies share one signature (codes.h): (region, scratch, image n, C, H, W, y, x, out).

// gaussian_noise (v0 = variance), gaussian_noise_sigma (v0 = sigma on 0..255): x + std * z(seed, c*H*W + y*W + x, 0),
// std = noise.stdv (planner: sqrtf(variance) or sigma / 255)
DX_HD void dx_gaussian_noise(const DxRegion& g, const float*, const float* img, int C, int H, int W, int y, int x, float* o) {
  const int64_t plane = (int64_t)H * W, p = (int64_t)y * W + x;
  const float stdv = g.noise.stdv;
  for (int c = 0; c < C; ++c) o[c] = img[c * plane + p] + stdv * dx_normal(g.seed, c * plane + p, 0u);
}

// mono_gaussian_noise: one draw z(seed, y*W + x, 0) for all channels, std = sigma / 255
DX_HD void dx_mono_noise(const DxRegion& g, const float*, const float* img, int C, int H, int W, int y, int x, float* o) {
  const int64_t plane = (int64_t)H * W, p = (int64_t)y * W + x;
  const float n = (g.v[0] / 255.0f) * dx_normal(g.seed, p, 0u);
  for (int c = 0; c < C; ++c) o[c] = img[c * plane + p] + n;
}

// salt_pepper: per channel value u = u(seed, c*H*W + y*W + x, 0); u < amount/2 -> 0, u < amount -> 1, else unchanged
DX_HD void dx_salt_pepper(const DxRegion& g, const float*, const float* img, int C, int H, int W, int y, int x, float* o) {
  const int64_t plane = (int64_t)H * W, p = (int64_t)y * W + x;
  const float amount = g.v[0];
  for (int c = 0; c < C; ++c) {
    const float u = uniform01(g.seed, c * plane + p, 0u), v = img[c * plane + p];
    o[c] = u < 0.5f * amount ? 0.0f : (u < amount ? 1.0f : v);
  }
}

// mono_salt_pepper: u = u(seed, y*W + x, 0) decides for all channels of the pixel (black or white specks)
DX_HD void dx_mono_salt_pepper(const DxRegion& g, const float*, const float* img, int C, int H, int W, int y, int x, float* o) {
  const int64_t plane = (int64_t)H * W, p = (int64_t)y * W + x;
  const float u = uniform01(g.seed, p, 0u), amount = g.v[0];
  for (int c = 0; c < C; ++c) {
    const float v = img[c * plane + p];
    o[c] = u < 0.5f * amount ? 0.0f : (u < amount ? 1.0f : v);
  }
}

// fnoise strength: noise std per unit f (noise.FNOISE_STD_PER_F, Ahn's generator at 256x256)
#define DX_FNOISE_STD_PER_F 0.0154f

// fnoise: x + f * 0.0154 * N[c, y, x]; the normalised 1/f field N [C, H, W] is a pre-pass in scratch (off)
DX_HD void dx_fnoise(const DxRegion& g, const float* scratch, const float* img, int C, int H, int W, int y, int x, float* o) {
  const int64_t plane = (int64_t)H * W, p = (int64_t)y * W + x;
  const float s = g.v[0] * DX_FNOISE_STD_PER_F;
  const float* field = scratch + g.off;
  for (int c = 0; c < C; ++c) o[c] = img[c * plane + p] + s * field[c * plane + p];
}

}  // namespace distortx
