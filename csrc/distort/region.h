// The plan the host builds for the fused distortion kernel: one DxRegion per (image, region) slot.
// Plain C++ (no torch): shared by the CPU loop, the CUDA kernels and the host-side planner.
#pragma once
#include <stdint.h>

#include "common/rng.h"
#include "distort/codes.h"

namespace distortx {

// Derived values of a region, by family (set by its plan function, read by its bodies); scratch indices
// point into DxBatch::scratch.
struct DxNoiseArgs {     // gaussian_noise, gaussian_noise_sigma
  float stdv;            // std of the added noise per channel value
};
struct DxQuantArgs {     // quantization
  float levels;          // clamp(round(L), 2, 256)
};
struct DxBlurArgs {      // gaussian_blur
  int32_t radius;        // r = max(1, ceil(2 sigma))
  int32_t weights;       // scratch index of the 2r + 1 normalised weights
};
struct DxMotionArgs {    // motion_blur
  int32_t taps;          // n = max(1, ceil(L)) + 1
  float cos_a, sin_a;    // of the angle
};
struct DxLowpassArgs {   // lowpass
  int32_t h, w;          // downscaled size
  int32_t ry, rx;        // antialias radii along rows (y) and columns (x)
  int32_t gy, gx;        // scratch index of the zero-padded Gaussians along y and x
  float sy, sx;          // upsampling scales h / H, w / W
};
struct DxTwirlArgs {     // twirl
  float angle, radius;   // radians, pixels
  float ox, oy;          // centre, pixels
  int32_t active;        // 0: angle 0 or radius 0 (a copy)
};
struct DxJpegArgs {      // jpeg
  int32_t quality;       // 1..100
  int32_t cy0, cx0;      // first chroma block row / column the box needs (block units)
  int32_t ch, cw;        // chroma block rows / columns
  int32_t qtables;       // scratch index of the quantiser tables (luma then chroma, 64 each)
};

// One region of one image, everything a per-pixel body needs. POD, copied to the device as bytes.
struct DxRegion {
  int32_t code;              // DxCode; DX_NONE = skip
  int32_t x0, y0, x1, y1;    // box, clipped, half-open; empty boxes are planned as DX_NONE
  int64_t seed;              // counter-RNG seed of the region
  int64_t off;               // offset (in floats) of this region's scratch data, -1 if none
  int32_t sx0, sy0, sw, sh;  // scratch geometry: a [C][sh][sw] plane whose (0, 0) is image pixel (sx0, sy0)
  float v[4];                // the distortion's parameter values (spec.parameters order), unused = 0
  union {                    // family-specific derived values (raw: all zero before planning)
    uint32_t raw[8];
    DxNoiseArgs noise;
    DxQuantArgs quant;
    DxBlurArgs blur;
    DxMotionArgs motion;
    DxLowpassArgs lowpass;
    DxTwirlArgs twirl;
    DxJpegArgs jpeg;
  };
};

static_assert(sizeof(DxRegion) % 8 == 0, "DxPass records follow DxRegion records in one upload buffer");

// A pre-pass job: the scratch elements [begin, next job's begin) belong to region slot `slot` (n * R + r).
struct DxPass {
  int32_t slot;
  int32_t pad;
  int64_t begin;
};

// Everything a launch needs, raw pointers only.
struct DxBatch {
  const float* in;         // [N, C, H, W] clean images
  float* out;              // [N, C, H, W] result
  const DxRegion* regs;    // [N, R]
  const float* scratch;    // pre-pass results addressed by DxRegion::off (may be null)
  int N, C, H, W, R;
};

// The pre-pass of a code that has none (codes.h).
DX_HDI void dx_no_prepass(const DxRegion&, float*, const float*, int, int, int, int64_t) {}

// Index of the region whose box wins pixel (y, x) of image n (the last one containing it), or -1.
DX_HD int dx_winner(const DxRegion* regs, int R, int y, int x) {
  for (int r = R - 1; r >= 0; --r) {
    const DxRegion& g = regs[r];
    if (g.code != DX_NONE && x >= g.x0 && x < g.x1 && y >= g.y0 && y < g.y1) return r;
  }
  return -1;
}

DX_HDI int dx_clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }
DX_HDI float dx_clampf(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }
DX_HDI float dx_clamp01(float v) { return v < 0.f ? 0.f : (v > 1.f ? 1.f : v); }

// numpy np.pad(mode="reflect") / scipy.ndimage "mirror" source index of i for an axis of length n
// (period 2(n-1), n = 1 -> 0), any distance out.
DX_HD int dx_reflect(int i, int n) {
  if (n == 1) return 0;
  const int period = 2 * (n - 1);
  i %= period;
  if (i < 0) i += period;
  return i >= n ? period - i : i;
}

}  // namespace distortx
