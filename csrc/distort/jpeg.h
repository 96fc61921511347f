// JPEG family body: a port of distortx/distortions/jpeg.py's `jpeg_simulate` (libjpeg's integer baseline
// pipeline with Pillow's settings: ISLOW DCTs, IJG tables, h2v2 box downsampling, fancy upsampling).
// All integer maths in int64, as the torch simulation, so the result is bit-exact with it (and Pillow).
//
// Region data (planner): jpeg.quality; jpeg.qtables = offset of the quantiser tables (host constants, luma then
// chroma); luma 8x8 blocks rows sy0..sy0+sh-1, cols sx0..sx0+sw-1 (block units) decoded at scratch[off] as a
// (8 sh) x (8 sw) plane; chroma blocks rows cy0..cy0+ch-1, cols cx0..cx0+cw-1 (jpeg.*) decoded at
// scratch[off + 64 sh sw] (Cb) and the next (8 ch) x (8 cw) plane (Cr).
// Pre-pass element = one luma block, or one chroma block position (Cb and Cr); main pass = upsampling + RGB.
#pragma once
#include "distort/region.h"

namespace distortx {

DX_HDI int64_t dx_descale(int64_t x, int n) { return (x + ((int64_t)1 << (n - 1))) >> n; }

// jfdctint.c / jidctint.c constants (CONST_BITS = 13, PASS1_BITS = 2)
#define DXJ_CB 13
#define DXJ_P1 2

// One 1-D pass of jpeg_fdct_islow over d[0], d[s], ..., d[7s] in place.
DX_HDI void dx_fdct_1d(int64_t* d, int s, bool last) {
  const int64_t t0 = d[0] + d[7 * s], t7 = d[0] - d[7 * s];
  const int64_t t1 = d[s] + d[6 * s], t6 = d[s] - d[6 * s];
  const int64_t t2 = d[2 * s] + d[5 * s], t5 = d[2 * s] - d[5 * s];
  const int64_t t3 = d[3 * s] + d[4 * s], t4 = d[3 * s] - d[4 * s];
  const int64_t t10 = t0 + t3, t13 = t0 - t3, t11 = t1 + t2, t12 = t1 - t2;
  int sh;
  if (last) {
    d[0] = dx_descale(t10 + t11, DXJ_P1);
    d[4 * s] = dx_descale(t10 - t11, DXJ_P1);
    sh = DXJ_CB + DXJ_P1;
  } else {
    d[0] = (t10 + t11) * (1 << DXJ_P1);
    d[4 * s] = (t10 - t11) * (1 << DXJ_P1);
    sh = DXJ_CB - DXJ_P1;
  }
  const int64_t z1e = (t12 + t13) * 4433;
  d[2 * s] = dx_descale(z1e + t13 * 6270, sh);
  d[6 * s] = dx_descale(z1e - t12 * 15137, sh);
  int64_t z1 = t4 + t7, z2 = t5 + t6, z3 = t4 + t6, z4 = t5 + t7;
  const int64_t z5 = (z3 + z4) * 9633;
  const int64_t u4 = t4 * 2446, u5 = t5 * 16819, u6 = t6 * 25172, u7 = t7 * 12299;
  z1 = z1 * -7373;
  z2 = z2 * -20995;
  z3 = z3 * -16069 + z5;
  z4 = z4 * -3196 + z5;
  d[7 * s] = dx_descale(u4 + z1 + z3, sh);
  d[5 * s] = dx_descale(u5 + z2 + z4, sh);
  d[3 * s] = dx_descale(u6 + z2 + z3, sh);
  d[s] = dx_descale(u7 + z1 + z4, sh);
}

// One 1-D pass of jpeg_idct_islow over d[0], d[s], ..., d[7s] in place.
DX_HDI void dx_idct_1d(int64_t* d, int s, bool last) {
  int64_t z2 = d[2 * s], z3 = d[6 * s];
  int64_t z1 = (z2 + z3) * 4433;
  int64_t t2 = z1 - z3 * 15137, t3 = z1 + z2 * 6270;
  int64_t t0 = (d[0] + d[4 * s]) * (1 << DXJ_CB), t1 = (d[0] - d[4 * s]) * (1 << DXJ_CB);
  const int64_t t10 = t0 + t3, t13 = t0 - t3, t11 = t1 + t2, t12 = t1 - t2;
  t0 = d[7 * s], t1 = d[5 * s], t2 = d[3 * s], t3 = d[s];
  z1 = t0 + t3, z2 = t1 + t2, z3 = t0 + t2;
  int64_t z4 = t1 + t3;
  const int64_t z5 = (z3 + z4) * 9633;
  t0 = t0 * 2446, t1 = t1 * 16819, t2 = t2 * 25172, t3 = t3 * 12299;
  z1 = z1 * -7373;
  z2 = z2 * -20995;
  z3 = z3 * -16069 + z5;
  z4 = z4 * -3196 + z5;
  t0 = t0 + z1 + z3, t1 = t1 + z2 + z4, t2 = t2 + z2 + z3, t3 = t3 + z1 + z4;
  const int sh = last ? DXJ_CB + DXJ_P1 + 3 : DXJ_CB - DXJ_P1;
  d[0] = dx_descale(t10 + t3, sh);
  d[7 * s] = dx_descale(t10 - t3, sh);
  d[s] = dx_descale(t11 + t2, sh);
  d[6 * s] = dx_descale(t11 - t2, sh);
  d[2 * s] = dx_descale(t12 + t1, sh);
  d[5 * s] = dx_descale(t12 - t1, sh);
  d[3 * s] = dx_descale(t13 + t0, sh);
  d[4 * s] = dx_descale(t13 - t0, sh);
}

DX_HDI int64_t dx_range_limit(int64_t x) {
  const int64_t i = x & 1023;
  return i < 128 ? i + 128 : (i < 512 ? 255 : (i < 896 ? 0 : i - 896));
}

// IJG quantiser tables (jpeg_set_quality, force_baseline), computed on the host (planner): luma then chroma,
// 64 entries each (row-major), stored as floats at scratch[jpeg.qtables].

// 8-bit sample of channel c at (y, x) (coordinates clamped): round-half-even(clamp(x, 0, 1) * 255).
DX_HDI int64_t dx_u8(const float* img, int H, int W, int c, int y, int x) {
  y = y < H ? y : H - 1;
  x = x < W ? x : W - 1;
  const float v = img[((int64_t)c * H + y) * W + x];
  return (int64_t)rintf(dx_clampf(v, 0.0f, 1.0f) * 255.0f);
}

// The 8-bit samples the codec sees: sample(c, y, x) for y < H, x < W (beyond: the last row / column). The kernels
// read them from the float image (DxFloatSamples); the fast CPU path converts a region's image once into planes
// of bytes (jpeg_cpu.cpp) and reads those: the same values, so both run the same block body below.
struct DxFloatSamples {
  const float* img;
  int H, W;
  DX_HDI int64_t operator()(int c, int y, int x) const { return dx_u8(img, H, W, c, y, x); }
};

// jccolor.c rgb_ycc_convert of the pixel (y, x) (clamped), component comp = 0 (Y), 1 (Cb), 2 (Cr).
template <class Samples>
DX_HDI int64_t dx_ycc(const Samples& sample, int C, int comp, int y, int x) {
  if (C == 1) return sample(0, y, x);
  const int64_t r = sample(0, y, x), g = sample(1, y, x), b = sample(2, y, x);
  const int64_t half = 1 << 15, off = (int64_t)128 << 16;
  if (comp == 0) return (19595 * r + 38470 * g + 7471 * b + half) >> 16;
  if (comp == 1) return (-11059 * r - 21709 * g + half * b + off + half - 1) >> 16;
  return (half * r - 27439 * g - 5329 * b + off + half - 1) >> 16;
}

// Forward DCT, quantisation with table q (dequantised in place), inverse DCT, range limit: one 8x8 block.
DX_HDI void dx_jpeg_code_block(int64_t* blk, const float* q) {
  for (int r = 0; r < 8; ++r) dx_fdct_1d(blk + 8 * r, 1, false);  // rows
  for (int c = 0; c < 8; ++c) dx_fdct_1d(blk + c, 8, true);       // columns
  for (int i = 0; i < 64; ++i) {  // k = sign(F) ((|F| + 4Q) // 8Q): a 32-bit integer division (|F| < 2^15, Q <= 255)
    const int64_t qi = (int64_t)q[i], f = blk[i];
    const int64_t a = (int64_t)((uint32_t)((f < 0 ? -f : f) + 4 * qi) / (uint32_t)(8 * qi));
    blk[i] = (f < 0 ? -a : a) * qi;
  }
  // inverse DCT; a column or row whose AC terms are all zero is its DC term scaled, which is what the full 1-D
  // pass computes for it (libjpeg's jidctint.c takes the same shortcut): the same bits, less work
  for (int c = 0; c < 8; ++c) {  // columns: the DC term << PASS1_BITS
    const int64_t* d = blk + c;
    if ((d[8] | d[16] | d[24] | d[32] | d[40] | d[48] | d[56]) == 0) {
      const int64_t dc = d[0] * (1 << DXJ_P1);
      for (int k = 0; k < 8; ++k) blk[c + 8 * k] = dc;
    } else {
      dx_idct_1d(blk + c, 8, false);
    }
  }
  for (int r = 0; r < 8; ++r) {  // rows: the DC term descaled by PASS1_BITS + 3
    int64_t* d = blk + 8 * r;
    if ((d[1] | d[2] | d[3] | d[4] | d[5] | d[6] | d[7]) == 0) {
      const int64_t dc = dx_descale(d[0], DXJ_P1 + 3);
      for (int k = 0; k < 8; ++k) d[k] = dc;
    } else {
      dx_idct_1d(d, 1, true);
    }
  }
}

// Pre-pass element e: encode + decode one 8x8 luma block (e < sh sw), or one chroma block position with both
// its Cb and Cr blocks; written as floats to their planes. sample: the 8-bit samples (DxFloatSamples).
template <class Samples>
DX_HDI void dx_jpeg_block_s(const DxRegion& g, float* scratch, const Samples& sample, int C, int H, int W, int64_t e) {
  const int64_t nY = (int64_t)g.sh * g.sw, nC = (int64_t)g.jpeg.ch * g.jpeg.cw;
  const float* qt = scratch + g.jpeg.qtables;
  int64_t blk[64];
  if (e < nY) {
    const int bi = g.sy0 + (int)(e / g.sw), bj = g.sx0 + (int)(e % g.sw);
    for (int yy = 0; yy < 8; ++yy)
      for (int xx = 0; xx < 8; ++xx) blk[yy * 8 + xx] = dx_ycc(sample, C, 0, bi * 8 + yy, bj * 8 + xx) - 128;
    dx_jpeg_code_block(blk, qt);
    const int64_t stride = (int64_t)g.sw * 8, base = g.off + (int64_t)(bi - g.sy0) * 8 * stride + (int64_t)(bj - g.sx0) * 8;
    for (int yy = 0; yy < 8; ++yy)
      for (int xx = 0; xx < 8; ++xx) scratch[base + yy * stride + xx] = (float)dx_range_limit(blk[yy * 8 + xx]);
    return;
  }
  const int64_t eb = e - nY;
  const int bi = g.jpeg.cy0 + (int)(eb / g.jpeg.cw), bj = g.jpeg.cx0 + (int)(eb % g.jpeg.cw);
  const int hc = (H + 1) / 2;
  int64_t cr[64];
  for (int yy = 0; yy < 8; ++yy) {  // h2v2 downsampling of the edge-replicated chroma; rows past hc-1 replicated
    int i = bi * 8 + yy;
    i = i < hc ? i : hc - 1;
    for (int xx = 0; xx < 8; ++xx) {
      const int j = bj * 8 + xx;
      int64_t sb = 0, sr = 0;
      for (int dy = 0; dy < 2; ++dy)
        for (int dx = 0; dx < 2; ++dx) {
          const int64_t r = sample(0, 2 * i + dy, 2 * j + dx), gg = sample(1, 2 * i + dy, 2 * j + dx),
                        bb = sample(2, 2 * i + dy, 2 * j + dx);
          const int64_t half = 1 << 15, off = (int64_t)128 << 16;
          sb += (-11059 * r - 21709 * gg + half * bb + off + half - 1) >> 16;
          sr += (half * r - 27439 * gg - 5329 * bb + off + half - 1) >> 16;
        }
      const int64_t bias = (j & 1) ? 2 : 1;
      blk[yy * 8 + xx] = ((sb + bias) >> 2) - 128;
      cr[yy * 8 + xx] = ((sr + bias) >> 2) - 128;
    }
  }
  dx_jpeg_code_block(blk, qt + 64);
  dx_jpeg_code_block(cr, qt + 64);
  const int64_t stride = (int64_t)g.jpeg.cw * 8;
  const int64_t base = g.off + 64 * nY + (int64_t)(bi - g.jpeg.cy0) * 8 * stride + (int64_t)(bj - g.jpeg.cx0) * 8;
  for (int yy = 0; yy < 8; ++yy)
    for (int xx = 0; xx < 8; ++xx) {
      scratch[base + yy * stride + xx] = (float)dx_range_limit(blk[yy * 8 + xx]);
      scratch[base + 64 * nC + yy * stride + xx] = (float)dx_range_limit(cr[yy * 8 + xx]);
    }
}

DX_HDI void dx_jpeg_block(const DxRegion& g, float* scratch, const float* img, int C, int H, int W, int64_t e) {
  dx_jpeg_block_s(g, scratch, DxFloatSamples{img, H, W}, C, H, W, e);
}

// Decoded chroma sample (i, j) (real chroma plane coordinates) of plane p (1 = Cb, 2 = Cr).
DX_HDI int64_t dx_jpeg_c(const DxRegion& g, const float* scratch, int p, int i, int j) {
  const int64_t nY = (int64_t)g.sh * g.sw, nC = (int64_t)g.jpeg.ch * g.jpeg.cw;
  const float* pl = scratch + g.off + 64 * nY + (int64_t)(p - 1) * 64 * nC;
  return (int64_t)pl[(int64_t)(i - 8 * g.jpeg.cy0) * (8 * g.jpeg.cw) + (j - 8 * g.jpeg.cx0)];
}

// jdsample.c h2v2_fancy_upsample (plain replication when wc <= 2) at full-resolution (y, x).
DX_HDI int64_t dx_jpeg_up(const DxRegion& g, const float* scratch, int p, int H, int W, int y, int x) {
  const int hc = (H + 1) / 2, wc = (W + 1) / 2, i = y >> 1, j = x >> 1;
  if (wc <= 2) return dx_jpeg_c(g, scratch, p, i, j);
  const int in = (y & 1) ? (i + 1 < hc ? i + 1 : hc - 1) : (i > 0 ? i - 1 : 0);  // vertical neighbour row
  const int jn = (x & 1) ? (j + 1 < wc ? j + 1 : wc - 1) : (j > 0 ? j - 1 : 0);  // horizontal neighbour column
  const int64_t v = 3 * dx_jpeg_c(g, scratch, p, i, j) + dx_jpeg_c(g, scratch, p, in, j);
  const int64_t vn = 3 * dx_jpeg_c(g, scratch, p, i, jn) + dx_jpeg_c(g, scratch, p, in, jn);
  return (3 * v + vn + ((x & 1) ? 7 : 8)) >> 4;
}

DX_HDI void dx_jpeg(const DxRegion& g, const float* scratch, const float*, int C, int H, int W, int y, int x, float* o) {
  const int64_t yv = (int64_t)scratch[g.off + (int64_t)(y - 8 * g.sy0) * (8 * g.sw) + (x - 8 * g.sx0)];
  if (C == 1) {
    o[0] = (float)yv / 255.0f;
    return;
  }
  const int64_t cb = dx_jpeg_up(g, scratch, 1, H, W, y, x) - 128, cr = dx_jpeg_up(g, scratch, 2, H, W, y, x) - 128;
  const int64_t half = 1 << 15;
  int64_t rgb[3] = {yv + ((91881 * cr + half) >> 16), yv + ((-22554 * cb - 46802 * cr + half) >> 16),
                    yv + ((116130 * cb + half) >> 16)};
  for (int c = 0; c < 3; ++c) o[c] = (float)(rgb[c] < 0 ? 0 : (rgb[c] > 255 ? 255 : rgb[c])) / 255.0f;
}

}  // namespace distortx
