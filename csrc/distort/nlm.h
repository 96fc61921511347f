// Non-local means (twin of distortx/distortions/nlm.py: scikit-image's fast-mode denoise_nl_means with
// patch_size 7, patch_distance 11, sigma 0, including its quirks: numpy "reflect" border, a 6x6 box for the
// patch distance normalised by 49, distance cut-off 5 and Schraudolph's fast_exp). float64 maths.
//
// Region data (planner): no derived values; the normaliser C h^2 49 is recomputed in double from v[0] = h; the
// result of the box (C x bh x bw floats, bh = y1 - y0, bw = x1 - x0) is written at scratch[off].
// Three bodies compute it:
// - dx_nlm_direct: the definition, one pixel at a time in float64 (DISTORTX_NLM_DIRECT=1 on the CPU);
// - the CPU fast path (distort_cpu.cpp): the 529 offsets swept over row bands with separable float64 box sums
//   (the same terms summed in another order: ~1e-12 apart before the float cast);
// - dx_nlm_tile_thread (below): the CUDA pre-pass, which the scalar CPU op (distort_scalar_cpu.cpp) runs too.
//   Float32 patch distances slid down a run of rows, float64 weights sums; <= 1e-5 from the float64 bodies.
#pragma once
#include <stdint.h>
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

// Pre-pass element e of the direct body (DISTORTX_NLM_DIRECT=1 on the CPU): box pixel e of the region,
// written to its [C][bh][bw] plane.
DX_HD void dx_nlm_pixel_pass(const DxRegion& g, float* scratch, const float* img, int C, int H, int W, int64_t e) {
  const int bw = g.x1 - g.x0, bh = g.y1 - g.y0;
  const int y = g.y0 + (int)(e / bw), x = g.x0 + (int)(e % bw);
  float o[3];
  dx_nlm_direct(img, C, H, W, dx_nlm_norm(C, g.v[0]), y, x, o);
  for (int c = 0; c < C; ++c) scratch[g.off + ((int64_t)c * bh + (y - g.y0)) * bw + (x - g.x0)] = o[c];
}

// ---- The CUDA pre-pass (the scalar CPU op runs the same functions) ---------------------------------------
// The box is cut into tiles of kNlmTileW x kNlmTileH pixels (DxNlmTile, planned by dx_launch_plan). A CUDA
// block first copies the reflect-padded window the tile reads (dx_nlm_window_fill: [C][59][60] floats in
// shared memory, so the hot loop has no border maths), then each thread owns one column and a run of kNlmRun
// rows (dx_nlm_tile_thread). For each of the 529 offsets, in the reference's order, it slides the 6x6 patch
// distance down the run: one 6-wide row sum h_i per support row (kNlmRun + 5 rows), then
// D_j = h_j + h_{j+1} + ... + h_{j+5}, every term a sum of squares in a fixed order (so the value of a pixel
// does not depend on the tile or run it falls in), in float32; weights are summed in float64.
// Cost per pixel and offset (C = 3, run 8, offsets 4 at a time): 13/8 x (18 + 27) / 4 + 3 = 22 shared-memory
// reads, ~93 float32 and 4 float64 operations, 4 float -> double conversions (dx_nlm_direct: 36 x 2 x 3
// reads, 144 reflect-index computations with an integer modulo, 108 float64 squared differences).
//
// Precision (vs the float64 bodies, which agree to ~1e-12): every float32 step rounds once (u = 2^-24) and all
// terms are positive, so |D32 - D| <= 15u D (3 roundings in d^2, 2 in the channel sum, 5 in the row sum,
// 5 in the column sum) and dist32 = D32 * (1/norm)32 is within 17u = 1.0e-6 relative of D / norm.
// - the cut-off (dist > 5) is a jump: where dist32 is within 2^-16 relative of 5 (15x the error bound), the
//   distance is recomputed in float64 (dx_nlm_rescue_weight, the definition's order), so the cut-off decision
//   is that of the float64 bodies;
// - elsewhere the weight is fast_exp's bit pattern from k = BC - trunc(A dist) in float32: |dk| <= 9, so each
//   weight is within 9 / 2^20 = 8.6e-6 relative of the float64 one, and out = sum w q / sum w (q, out in
//   [0, 1]) moves by at most that much: |tile - float64 body| <= 8.6e-6 + float32 rounding < 1e-5 (~1e-7
//   typical). CUDA runs these functions bit for bit as the CPU does (nvcc -fmad=false, IEEE +-*/).
#if defined(__CUDACC__)
#define DXN_UNROLL _Pragma("unroll")  // register arrays need constant indices on the GPU
#else
#define DXN_UNROLL                    // the host compiler decides (forced unrolling costs minutes of compile)
#endif

#define DXN_LO (DXN_D + DXN_O - 1)  // window columns/rows before the tile: offset 11 + patch rows above 2
#define DXN_HI (DXN_D + DXN_O)      // after the tile: 11 + 3
constexpr int kNlmTileW = 32;  // tile columns (one warp of threads)
constexpr int kNlmTileH = 32;  // tile rows
constexpr int kNlmRun = 8;     // rows per thread: kNlmTileW x kNlmTileH / kNlmRun = 128 threads per tile
// offsets of a search-window row whose distances a thread computes together: 4 (default) or 2 (a smaller
// unrolled loop); the same values either way
constexpr int kNlmBlock = 4;
// window: the tile + 13 before, + 14 after, + 1 column for the last offset block (tx = 9..12 or 11..12)
constexpr int kNlmWinW = kNlmTileW + DXN_LO + DXN_HI + 1;
constexpr int kNlmWinH = kNlmTileH + DXN_LO + DXN_HI;

// One tile of one NL-means region: the box pixels x0..x0+31, y0..y0+31 (clipped to the box).
struct DxNlmTile {
  int32_t slot;    // region slot n * R + r
  int32_t x0, y0;  // tile origin, image coordinates
  int32_t pad;
};

// Window element e ([c][row][col], kNlmWinH x kNlmWinW per channel): the reflect-padded image at
// (y0 - 13 + row, x0 - 13 + col); the tile's origin is (x0, y0).
DX_HDI void dx_nlm_window_fill(const float* img, int C, int H, int W, int x0, int y0, float* win, int e) {
  const int col = e % kNlmWinW, rest = e / kNlmWinW;
  const int row = rest % kNlmWinH, c = rest / kNlmWinH;
  if (c >= C) return;
  win[e] = img[(int64_t)c * H * W + (int64_t)dx_reflect(y0 - DXN_LO + row, H) * W + dx_reflect(x0 - DXN_LO + col, W)];
}

// fast_exp(-dist) for 0 <= dist <= 5 from float32 maths: the float64 bit pattern of dx_fast_exp (high word
// k = BC - trunc(A dist), low word 0) has a 20-bit mantissa, so it is a float32 exactly: exponent - 896, <<3.
DX_HDI float dx_nlm_weight_f(float dist) {
  const int32_t k = 1072632447 - (int32_t)(1512775.3951951856938f * dist);
  const uint32_t bits = (uint32_t)(k - (896 << 20)) << 3;
  float w;
  memcpy(&w, &bits, 4);
  return w;
}

// The float64 weight of the offset whose patches start at p0 / p1 (window pointers, row stride kNlmWinW,
// channel stride cs): the definition's terms and order (rows, columns, channels), then dx_nlm_weight.
// Rare (dist32 within 2^-16 of the cut-off).
DX_HDI float dx_nlm_rescue_weight(const float* p0, const float* p1, int cs, int C, double norm) {
  double D = 0.0;
  for (int a = 0; a < 2 * DXN_O; ++a)
    for (int b = 0; b < 2 * DXN_O; ++b)
      for (int c = 0; c < C; ++c) {
        const double d = (double)p0[a * kNlmWinW + b + c * cs] - (double)p1[a * kNlmWinW + b + c * cs];
        D += d * d;
      }
  return (float)dx_nlm_weight(D, norm);  // exact: 0 or a 20-bit mantissa
}

// Index of the lowest set bit of m != 0.
DX_HDI int dx_lowest_bit(uint32_t m) {
#if defined(__CUDA_ARCH__)
  return __ffs((int)m) - 1;
#else
  return __builtin_ctz(m);
#endif
}

// Sum over channels of the squared difference of p0[c cs] and p1[c cs], in channel order.
DX_HDI float dx_nlm_sq(const float* p0, const float* p1, int cs, int C) {
  float d = p0[0] - p1[0];
  float s = d * d;
  for (int c = 1; c < C; ++c) {
    d = p0[c * cs] - p1[c * cs];
    s = s + d * d;
  }
  return s;
}

// One thread of a tile: the run of kNlmRun rows starting at window row DXN_LO + ly, column DXN_LO + lx of the
// window (win: [kC][kNlmWinH][kNlmWinW]); writes the first nrows pixels: out[c * ocs + j * ors].
// The offsets of a row of the search window are taken kK at a time (kNlmBlock): the support rows' centre values
// are read once for the block and each shifted value once, the patch distances of the block's offsets
// computed together, then weighted and summed one offset at a time, in order.
template <int kC, int kK>
DX_HDI void dx_nlm_run(const float* win, int lx, int ly, int nrows, float inv_norm, double norm, float* out, int64_t ocs,
                       int ors) {
  static_assert(kK == 2 || kK == 4, "the window has one spare column: 23 offsets + 1");
  constexpr int kRun = kNlmRun, kRows = kRun + 2 * DXN_O - 1, kCols = 2 * DXN_O;
  constexpr float kLo = 5.0f * (1.0f - 1.0f / 65536.0f), kHi = 5.0f * (1.0f + 1.0f / 65536.0f);
  constexpr int cs = kNlmWinH * kNlmWinW;  // channel stride
  const float* base = win + (ly + DXN_LO - (DXN_O - 1)) * kNlmWinW + lx + DXN_LO - (DXN_O - 1);  // support row 0, patch col 0
  double acc[kRun][kC], ws[kRun];
  DXN_UNROLL
  for (int j = 0; j < kRun; ++j) {
    ws[j] = 0.0;
    DXN_UNROLL
    for (int c = 0; c < kC; ++c) acc[j][c] = 0.0;
  }
  for (int ty = -DXN_D; ty <= DXN_D; ++ty) {
    for (int tx0 = -DXN_D; tx0 <= DXN_D; tx0 += kK) {  // offsets (ty, tx0 + k), k < kK (past 11: not used)
      const float* sh = base + ty * kNlmWinW + tx0;
      float D[kK][kRun];
      DXN_UNROLL
      for (int i = 0; i < kRows; ++i) {  // support rows
        const float* p0 = base + i * kNlmWinW;
        const float* p1 = sh + i * kNlmWinW;
        float h[kK];
        DXN_UNROLL
        for (int b = 0; b < kCols; ++b) {
          DXN_UNROLL
          for (int k = 0; k < kK; ++k) {
            const float s = dx_nlm_sq(p0 + b, p1 + b + k, cs, kC);
            h[k] = b == 0 ? s : h[k] + s;
          }
        }
        DXN_UNROLL
        for (int k = 0; k < kK; ++k) {
          DXN_UNROLL
          for (int j = 0; j < kRun; ++j) {
            if (i == j) D[k][j] = h[k];
            else if (j < i && i < j + kCols) D[k][j] = D[k][j] + h[k];
          }
        }
#if defined(__CUDA_ARCH__)
        asm volatile("" ::: "memory");  // a scheduling fence: no window read hoisted across rows (registers)
#endif
      }
      // weights: float32 maths, except near the cut-off (rare: one rolled copy of the float64 rescue)
      float w[kK][kRun];
      uint32_t rescue = 0;
      DXN_UNROLL
      for (int k = 0; k < kK; ++k) {
        DXN_UNROLL
        for (int j = 0; j < kRun; ++j) {
          const float dist = D[k][j] * inv_norm;
          w[k][j] = dist < kLo ? dx_nlm_weight_f(dist) : 0.0f;  // 0 beyond the cut-off
          if (dist >= kLo && !(dist > kHi)) rescue |= 1u << (k * kRun + j);
        }
      }
      while (rescue != 0) {
        const int bit = dx_lowest_bit(rescue), k = bit / kRun, j = bit % kRun;
        rescue &= rescue - 1;
        const float wr = dx_nlm_rescue_weight(base + j * kNlmWinW, sh + k + j * kNlmWinW, cs, kC, norm);
        DXN_UNROLL
        for (int kk = 0; kk < kK; ++kk) {
          DXN_UNROLL
          for (int jj = 0; jj < kRun; ++jj)
            if (kk * kRun + jj == bit) w[kk][jj] = wr;
        }
      }
      // sums, one offset at a time in order (offsets past 11 are not used)
      DXN_UNROLL
      for (int k = 0; k < kK; ++k) {
        if (tx0 + k > DXN_D) break;
        DXN_UNROLL
        for (int j = 0; j < kRun; ++j) {
          if (w[k][j] == 0.0f) continue;  // adds nothing
          const double wd = (double)w[k][j];
          const float* q = sh + k + (j + DXN_O - 1) * kNlmWinW + (DXN_O - 1);  // the offset pixel
          ws[j] = ws[j] + wd;
          DXN_UNROLL
          for (int c = 0; c < kC; ++c) acc[j][c] = acc[j][c] + wd * (double)q[c * cs];
        }
      }
    }
  }
  DXN_UNROLL
  for (int j = 0; j < kRun; ++j)
    if (j < nrows) {
      DXN_UNROLL
      for (int c = 0; c < kC; ++c) out[c * ocs + (int64_t)j * ors] = (float)(acc[j][c] / ws[j]);
    }
}

// Thread (lx, run) of tile t, its window filled: the kNlmRun rows t.y0 + run kNlmRun.. of column t.x0 + lx,
// where they fall inside the box.
template <int kC, int kK = kNlmBlock>
DX_HDI void dx_nlm_tile_thread(const DxRegion& g, const DxNlmTile& t, const float* win, int lx, int run, float* scratch) {
  const int x = t.x0 + lx, ly = run * kNlmRun, y = t.y0 + ly;
  if (x >= g.x1 || y >= g.y1 || ly >= kNlmTileH) return;
  const int bw = g.x1 - g.x0, bh = g.y1 - g.y0;
  const int nrows = g.y1 - y < kNlmRun ? g.y1 - y : kNlmRun;
  const double norm = dx_nlm_norm(kC, g.v[0]);
  float* out = scratch + g.off + (int64_t)(y - g.y0) * bw + (x - g.x0);
  dx_nlm_run<kC, kK>(win, lx, ly, nrows, (float)(1.0 / norm), norm, out, (int64_t)bh * bw, bw);
}

// Main pass: copy the pre-computed value.
DX_HD void dx_nlm(const DxRegion& g, const float* scratch, const float*, int C, int, int, int y, int x, float* o) {
  const int bw = g.x1 - g.x0, bh = g.y1 - g.y0;
  for (int c = 0; c < C; ++c) o[c] = scratch[g.off + ((int64_t)c * bh + (y - g.y0)) * bw + (x - g.x0)];
}

}  // namespace distortx
