// Plan function of jpeg (jpeg.h): the 8x8 blocks the box needs and the quantiser tables.
#include <algorithm>
#include <cmath>
#include <vector>

#include "distort/distort_plan.h"

namespace distortx {
namespace {

// IJG standard tables (JPEG Annex K), row-major; chroma rows 4..7 are all 99.
const int kJpegLuma[64] = {16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
                           14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
                           18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
                           49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99};
const int kJpegChroma[32] = {17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
                             24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99};

}  // namespace

// luma blocks under the box, chroma blocks under it +-1 sample (upsampling)
void dx_plan_jpeg(DxRegion& g, DxPlanner& p) {
  const int q = (int)std::clamp(std::nearbyint(g.v[0]), 1.0f, 100.0f);
  g.jpeg.quality = q;
  g.jpeg.qtables = p.constants(DX_JPEG, q, [q] {  // = jpeg.quant_tables: IJG tables scaled by quality, baseline
    const int scale = q < 50 ? 5000 / q : 200 - 2 * q;
    std::vector<float> out;
    for (int t = 0; t < 2; ++t)
      for (int idx = 0; idx < 64; ++idx) {
        const int base = t == 0 ? kJpegLuma[idx] : (idx < 32 ? kJpegChroma[idx] : 99);
        out.push_back((float)std::clamp((base * scale + 50) / 100, 1, 255));
      }
    return out;
  });
  g.sy0 = g.y0 / 8, g.sh = (g.y1 - 1) / 8 - g.sy0 + 1;
  g.sx0 = g.x0 / 8, g.sw = (g.x1 - 1) / 8 - g.sx0 + 1;
  int64_t elements = (int64_t)g.sh * g.sw, floats = 64 * elements;
  if (p.C == 3) {
    const int hc = (int)(p.H + 1) / 2, wc = (int)(p.W + 1) / 2;
    const int i0 = std::max(0, g.y0 / 2 - 1), i1 = std::min(hc - 1, (g.y1 - 1) / 2 + 1);
    const int j0 = std::max(0, g.x0 / 2 - 1), j1 = std::min(wc - 1, (g.x1 - 1) / 2 + 1);
    g.jpeg.cy0 = i0 / 8, g.jpeg.ch = i1 / 8 - g.jpeg.cy0 + 1;
    g.jpeg.cx0 = j0 / 8, g.jpeg.cw = j1 / 8 - g.jpeg.cx0 + 1;
    elements += (int64_t)g.jpeg.ch * g.jpeg.cw;  // one element per chroma block position (Cb + Cr)
    floats += 2 * 64 * (int64_t)g.jpeg.ch * g.jpeg.cw;
  }
  p.prepass(elements, floats);
}

}  // namespace distortx
