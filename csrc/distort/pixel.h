// The per-pixel dispatch of the fused distortion kernel, shared by the CPU loop and the CUDA kernels.
#pragma once
#include "distort/region.h"
#include "distort/noise.h"
#include "distort/tone.h"
#include "distort/warp.h"
#include "distort/blur.h"
#include "distort/jpeg.h"
#include "distort/nlm.h"

namespace distortx {

// Pre-pass element e of region slot `slot` (n * R + r).
DX_HDI void dx_prepass_elem(const DxBatch& b, float* scratch, int slot, int64_t e) {
  const DxRegion& g = b.regs[slot];
  const float* img = b.in + (int64_t)(slot / b.R) * b.C * b.H * b.W;
  switch (g.code) {
    case DX_GAUSSIAN_BLUR: dx_gaussian_rows(g, scratch, img, b.H, b.W, e); break;
    case DX_LOWPASS: dx_lowpass_cell(g, scratch, img, b.H, b.W, e); break;
    case DX_JPEG: dx_jpeg_block(g, scratch, img, b.C, b.H, b.W, e); break;
    case DX_MARBLE: dx_marble_lattice(g, scratch, e); break;
    case DX_NLM_DENOISE: dx_nlm_pixel_pass(g, scratch, img, b.C, b.H, b.W, e); break;
    default: break;
  }
}

// Pre-pass element t of the flattened job list (passes[0..np-1], sentinel passes[np].begin = total).
DX_HD void dx_prepass(const DxBatch& b, float* scratch, const DxPass* passes, int np, int64_t t) {
  int lo = 0, hi = np - 1;  // last job with begin <= t
  while (lo < hi) {
    const int mid = (lo + hi + 1) >> 1;
    if (passes[mid].begin <= t) lo = mid; else hi = mid - 1;
  }
  dx_prepass_elem(b, scratch, passes[lo].slot, t - passes[lo].begin);
}

// Channel values of pixel (y, x) of image n distorted by region g, before the clamp to [0, 1].
DX_HD void dx_pixel(const DxBatch& b, const DxRegion& g, int n, int y, int x, float* o) {
  const int C = b.C, H = b.H, W = b.W;
  const float* img = b.in + (int64_t)n * C * H * W;
  switch (g.code) {
    case DX_GAUSSIAN_NOISE:
    case DX_GAUSSIAN_NOISE_SIGMA: dx_gaussian_noise(g, g.a[0], img, C, H, W, y, x, o); break;
    case DX_MONO_GAUSSIAN_NOISE: dx_mono_noise(g, img, C, H, W, y, x, o); break;
    case DX_SALT_PEPPER: dx_salt_pepper(g, img, C, H, W, y, x, o); break;
    case DX_MONO_SALT_PEPPER: dx_mono_salt_pepper(g, img, C, H, W, y, x, o); break;
    case DX_FNOISE: dx_fnoise(g, b.scratch, img, C, H, W, y, x, o); break;
    case DX_QUANTIZATION: dx_quantization(g, img, C, H, W, y, x, o); break;
    case DX_CONTRAST: dx_contrast(g, b.scratch, img, C, H, W, y, x, o); break;
    case DX_GAUSSIAN_BLUR: dx_gaussian_blur(g, b.scratch, C, H, y, x, o); break;
    case DX_MOTION_BLUR: dx_motion_blur(g, img, C, H, W, y, x, o); break;
    case DX_LOWPASS: dx_lowpass(g, b.scratch, C, y, x, o); break;
    case DX_TWIRL: dx_twirl(g, img, C, H, W, y, x, o); break;
    case DX_MARBLE: dx_marble(g, b.scratch, img, C, H, W, y, x, o); break;
    case DX_JPEG: dx_jpeg(g, b.scratch, C, H, W, y, x, o); break;
    case DX_NLM_DENOISE: dx_nlm(g, b.scratch, C, y, x, o); break;
    default: {  // DX_IDENTITY (the planner rejects codes without a native body)
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
