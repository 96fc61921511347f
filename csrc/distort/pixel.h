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

// Pre-pass element e of region slot `slot` (n * R + r). kCode: the region's code when the caller knows it at
// compile time (the CUDA launcher runs one kernel per pre-pass family, so each kernel holds one body), 0 =
// dispatch on the region's code.
template <int kCode>
DX_HDI void dx_prepass_elem_t(const DxBatch& b, float* scratch, int slot, int64_t e) {
  const DxRegion& g = b.regs[slot];
  const float* img = b.in + (int64_t)(slot / b.R) * b.C * b.H * b.W;
  switch (kCode != 0 ? kCode : g.code) {
    // NL-means: the direct body, one box pixel per element (the CUDA launcher runs the tiles of nlm.h instead)
#define DX_PREPASS_CASE(NAME, CODE, BODY, PREPASS, PLAN) \
  case DX_##NAME: PREPASS(g, scratch, img, b.C, b.H, b.W, e); break;
    DX_CODE_TABLE(DX_PREPASS_CASE)
#undef DX_PREPASS_CASE
    default: break;
  }
}

DX_HDI void dx_prepass_elem(const DxBatch& b, float* scratch, int slot, int64_t e) { dx_prepass_elem_t<0>(b, scratch, slot, e); }

// Pre-pass element t of the flattened job list (passes[0..np-1], sentinel passes[np].begin = total).
template <int kCode>
DX_HD void dx_prepass_t(const DxBatch& b, float* scratch, const DxPass* passes, int np, int64_t t) {
  int lo = 0, hi = np - 1;  // last job with begin <= t
  while (lo < hi) {
    const int mid = (lo + hi + 1) >> 1;
    if (passes[mid].begin <= t) lo = mid; else hi = mid - 1;
  }
  dx_prepass_elem_t<kCode>(b, scratch, passes[lo].slot, t - passes[lo].begin);
}

DX_HD void dx_prepass(const DxBatch& b, float* scratch, const DxPass* passes, int np, int64_t t) {
  dx_prepass_t<0>(b, scratch, passes, np, t);
}

// Channel values of pixel (y, x) of image n distorted by region g, before the clamp to [0, 1].
// kC: the channel count when known at compile time (1 or 3: the loops over channels unroll and o stays in
// registers on the GPU), 0 = b.C.
template <int kC>
DX_HD void dx_pixel_c(const DxBatch& b, const DxRegion& g, int n, int y, int x, float* o) {
  const int C = kC > 0 ? kC : b.C, H = b.H, W = b.W;
  const float* img = b.in + (int64_t)n * C * H * W;
  switch (g.code) {
#define DX_PIXEL_CASE(NAME, CODE, BODY, PREPASS, PLAN) \
  case DX_##NAME: BODY(g, b.scratch, img, C, H, W, y, x, o); break;
    DX_CODE_TABLE(DX_PIXEL_CASE)
#undef DX_PIXEL_CASE
    default: {  // DX_IDENTITY (the planner rejects codes without a native body)
      const int64_t plane = (int64_t)H * W, p = (int64_t)y * W + x;
      for (int c = 0; c < C; ++c) o[c] = img[c * plane + p];
    }
  }
}

DX_HD void dx_pixel(const DxBatch& b, const DxRegion& g, int n, int y, int x, float* o) { dx_pixel_c<0>(b, g, n, y, x, o); }

// Writes the whole output pixel (y, x) of image n: the winning region's value clamped, or a copy.
// regs = the image's R regions (b.regs + n R, or a copy of them, e.g. in CUDA shared memory).
template <int kC>
DX_HD void dx_output_pixel_c(const DxBatch& b, const DxRegion* regs, int n, int y, int x) {
  const int C = kC > 0 ? kC : b.C;
  const int plane = b.H * b.W, p = y * b.W + x;  // one image has < 2^31 elements (dx_check_args)
  const int64_t base = (int64_t)n * C * plane;
  const float* in = b.in + base;
  float* out = b.out + base;
  const int r = dx_winner(regs, b.R, y, x);
  if (r < 0) {
    for (int c = 0; c < C; ++c) out[c * plane + p] = in[c * plane + p];
    return;
  }
  float o[4];
  dx_pixel_c<kC>(b, regs[r], n, y, x, o);
  for (int c = 0; c < C; ++c) out[c * plane + p] = dx_clamp01(o[c]);
}

DX_HD void dx_output_pixel(const DxBatch& b, int n, int y, int x) {
  dx_output_pixel_c<0>(b, b.regs + (int64_t)n * b.R, n, y, x);
}

// q = n / d and n - q d for 0 <= n < 2^31 by a multiply-high and a shift instead of a division (the main
// kernel's pixel index -> row, column). m and s as in Granlund & Montgomery: s = ceil(log2 d),
// m = floor(2^32 (2^s - d) / d) + 1, n / d = (mulhi(n, m) + n) >> s.
struct DxFastDiv {
  uint32_t d, m, s;
};

inline DxFastDiv dx_fast_div(uint32_t d) {
  uint32_t s = 0;
  while (s < 32 && (1ull << s) < d) ++s;
  const uint64_t m = ((1ull << 32) * ((1ull << s) - d)) / d + 1;
  return DxFastDiv{d, (uint32_t)m, s};
}

DX_HDI uint32_t dx_div(const DxFastDiv& f, uint32_t n) {
#if defined(__CUDA_ARCH__)
  const uint32_t hi = __umulhi(n, f.m);
#else
  const uint32_t hi = (uint32_t)(((uint64_t)n * f.m) >> 32);
#endif
  return (hi + n) >> f.s;
}

}  // namespace distortx
