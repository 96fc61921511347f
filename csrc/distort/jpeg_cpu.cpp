// Fast CPU loop of jpeg (jpeg.h): the main pass over the decoded blocks (the blocks are pre-pass elements).
#include "distort/cpu_rows.h"

namespace distortx {
namespace cpu {

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
