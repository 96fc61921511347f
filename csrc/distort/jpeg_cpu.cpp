// Fast CPU loop of jpeg (jpeg.h): the main pass over the decoded blocks (the blocks are pre-pass elements).
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

// bytes[i] = round-half-even(clamp(img[i], 0, 1) * 255) (= dx_u8), a loop the compiler vectorises.
DX_CLONES void jpeg_samples(const float* __restrict img, int64_t n, uint8_t* __restrict bytes) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = img[i] < 0.0f ? 0.0f : (img[i] > 1.0f ? 1.0f : img[i]);
    bytes[i] = (uint8_t)(int)nearbyintf(v * 255.0f);
  }
}

// Pre-pass elements [e0, e1) of JPEG region `slot` (dx_jpeg_block_s), its image's samples read from `samples`.
DX_CLONES void jpeg_blocks(const DxBatch& b, float* scratch, int32_t slot, int64_t e0, int64_t e1, const uint8_t* samples) {
  const BytePlanes planes{samples, b.H, b.W};
  for (int64_t e = e0; e < e1; ++e) dx_jpeg_block_s(b.regs[slot], scratch, planes, b.C, b.H, b.W, e);
}

DX_CLONES void row_jpeg(const DxBatch& b, const DxRegion& g, int n, int y, int xa, int xb, RowTmp& t) {
  DX_ROW_VARS;
  float o[4];
  for (int x = xa; x < xb; ++x) {
    dx_jpeg(g, b.scratch, img, C, H, W, y, x, o);
    for (int c = 0; c < C; ++c) out[c * plane + (int64_t)y * W + x] = o[c];  // already k / 255 in [0, 1]
  }
}

}  // namespace cpu
}  // namespace distortx
