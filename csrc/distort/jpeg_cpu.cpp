// Fast CPU loop of jpeg (jpeg.h): the main pass over the decoded blocks (the blocks are pre-pass elements).
#include <algorithm>
#include <vector>

#include "distort/cpu_rows.h"

namespace distortx {
namespace cpu {

namespace {
// The codec's 8-bit samples read from planes of bytes (= DxFloatSamples on the float image).
struct BytePlanes {
  const uint8_t* p;
  int H, W;
  int64_t operator()(int c, int y, int x) const {
    y = y < H ? y : H - 1;
    x = x < W ? x : W - 1;
    return p[((int64_t)c * H + y) * W + x];
  }
};
}  // namespace

// Pre-pass elements [e0, e1) of JPEG region `slot` (dx_jpeg_block_s), its image's samples read from `samples`.
DX_CLONES void jpeg_blocks(const DxBatch& b, float* scratch, int32_t slot, int64_t e0, int64_t e1, const uint8_t* samples) {
  const BytePlanes planes{samples, b.H, b.W};
  for (int64_t e = e0; e < e1; ++e) dx_jpeg_block_s(b.regs[slot], scratch, planes, b.C, b.H, b.W, e);
}

// = dx_jpeg over a row segment: the upsampled chroma as row loops (for each chroma column j of the segment the
// vertical sum v[j] = 3 c(i, j) + c(i', j) once, then per pixel (3 v[j] + v[j'] + 8 or 7) >> 4 as
// dx_jpeg_up), then the colour conversion of dx_jpeg; the same integers, so the same bits. Grey images, and
// chroma planes at most 2 columns wide (plain replication), take the per-pixel body.
DX_CLONES void row_jpeg(const DxBatch& b, const DxRegion& g, int n, int y, int xa, int xb, RowTmp& t) {
  DX_ROW_VARS;
  const int hc = (H + 1) / 2, wc = (W + 1) / 2;
  if (C == 1 || wc <= 2) {
    float o[4];
    for (int x = xa; x < xb; ++x) {
      dx_jpeg(g, b.scratch, img, C, H, W, y, x, o);
      for (int c = 0; c < C; ++c) out[c * plane + (int64_t)y * W + x] = o[c];  // already k / 255 in [0, 1]
    }
    return;
  }
  const int i = y >> 1, in = (y & 1) ? (i + 1 < hc ? i + 1 : hc - 1) : (i > 0 ? i - 1 : 0);
  const int ja = std::max(0, (xa >> 1) - 1), jb = std::min(wc - 1, ((xb - 1) >> 1) + 1);  // chroma columns read
  const int nj = jb - ja + 1;
  int* V = t.i0.data();  // [2][nj]: Cb, Cr vertical sums (i0 and i1 hold >= W ints; nj <= W / 2 + 2 <= W for W > 3)
  std::vector<int> wide;
  if (2 * nj > (int)t.i0.size()) wide.resize(2 * nj), V = wide.data();
  for (int p = 1; p <= 2; ++p)
    for (int j = ja; j <= jb; ++j)
      V[(p - 1) * nj + j - ja] = (int)(3 * dx_jpeg_c(g, b.scratch, p, i, j) + dx_jpeg_c(g, b.scratch, p, in, j));
  const float* yrow = b.scratch + g.off + (int64_t)(y - 8 * g.sy0) * (8 * g.sw) - 8 * g.sx0;
  const int64_t half = 1 << 15;
  for (int x = xa; x < xb; ++x) {
    const int j = x >> 1, jn = (x & 1) ? (j + 1 < wc ? j + 1 : wc - 1) : (j > 0 ? j - 1 : 0), bias = (x & 1) ? 7 : 8;
    const int64_t cb = ((3 * V[j - ja] + V[jn - ja] + bias) >> 4) - 128;
    const int64_t cr = ((3 * V[nj + j - ja] + V[nj + jn - ja] + bias) >> 4) - 128;
    const int64_t yv = (int64_t)yrow[x];
    const int64_t rgb[3] = {yv + ((91881 * cr + half) >> 16), yv + ((-22554 * cb - 46802 * cr + half) >> 16),
                            yv + ((116130 * cb + half) >> 16)};
    for (int c = 0; c < 3; ++c)
      out[c * plane + (int64_t)y * W + x] = (float)(rgb[c] < 0 ? 0 : (rgb[c] > 255 ? 255 : rgb[c])) / 255.0f;
  }
}

}  // namespace cpu
}  // namespace distortx
