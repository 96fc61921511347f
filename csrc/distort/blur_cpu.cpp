// Fast CPU loops of the blur family (blur.h): the blur's horizontal pre-pass rows, lowpass cells by channel
// (separably), and the gaussian_blur / motion_blur / lowpass rows.
#include <cmath>
#include "distort/cpu_rows.h"

namespace distortx {
namespace cpu {

// Horizontal Gaussian pass of one scratch row (channel c, image row yy, columns x0..x1-1): the row is padded by
// replication, then tmp[j] = sum_k w_k pad[j + k] accumulated in k order (the order of dx_gaussian_rows).
DX_CLONES void blur_row(const DxRegion& g, float* scratch, const float* img, int H, int W, int64_t e0, std::vector<float>& pad) {
  const int r = g.blur.radius, n = g.sw, taps = 2 * r + 1;
  const float* w = scratch + g.blur.weights;
  const int64_t per_c = (int64_t)g.sh * g.sw;
  const int c = (int)(e0 / per_c), yy = g.sy0 + (int)((e0 % per_c) / g.sw);
  const float* row = img + ((int64_t)c * H + yy) * W;
  pad.resize(n + 2 * r + kBlock);
  for (int k = 0; k < n + 2 * r; ++k) pad[k] = row[dx_clampi(g.sx0 - r + k, 0, W - 1)];
  float* out = scratch + g.off + e0;
  const float* p = pad.data();
#pragma omp simd
  for (int j = 0; j < n; ++j) out[j] = w[0] * p[j];
  for (int k = 1; k < taps; ++k) {
    const float wk = w[k];
    const float* pk = p + k;
#pragma omp simd
    for (int j = 0; j < n; ++j) out[j] = out[j] + wk * pk[j];
  }
}

// lowpass: every cell of one channel of a region, separably. The sums of dx_lowpass_cell in the same order
// (per image row the x taps, then per cell the y taps, in double; rows of weight 0 add 0), but each row's
// horizontal sums are computed once for all the cells that read them instead of once per cell.
void lowpass_channel(const DxBatch& b, float* scratch, int32_t slot, int c) {
  const DxRegion& g = b.regs[slot];
  const int H = b.H, W = b.W, h = g.lowpass.h, w = g.lowpass.w, ry = g.lowpass.ry, rx = g.lowpass.rx, nx = 2 * rx + 2, ny = 2 * ry + 2;
  const float* gy = scratch + g.lowpass.gy;
  const float* gx = scratch + g.lowpass.gx;
  const float* plane = b.in + ((int64_t)(slot / b.R) * b.C + c) * H * W;
  std::vector<int> xi((size_t)g.sw * nx);
  std::vector<double> xw((size_t)g.sw * nx);
  for (int jj = 0; jj < g.sw; ++jj) {  // the x taps of each cell column (= dx_lowpass_cell)
    const double cx = ((double)(g.sx0 + jj) + 0.5) * ((double)W / (double)w) - 0.5, fx0 = floor(cx), tx = cx - fx0;
    const int x0 = (int)fx0 - rx;
    for (int k = 0; k < nx; ++k) {
      xi[(size_t)jj * nx + k] = dx_reflect(x0 + k, W);
      xw[(size_t)jj * nx + k] = (1.0 - tx) * (double)gx[k + 1] + tx * (double)gx[k];
    }
  }
  std::vector<int> y0(g.sh);
  std::vector<double> ty(g.sh);
  for (int ii = 0; ii < g.sh; ++ii) {
    const double cy = ((double)(g.sy0 + ii) + 0.5) * ((double)H / (double)h) - 0.5, fy0 = floor(cy);
    y0[ii] = (int)fy0 - ry, ty[ii] = cy - fy0;
  }
  const int ylo = y0[0], nrows = y0[g.sh - 1] + ny - ylo;  // the cells' first taps grow with the row
  std::vector<double> rows((size_t)nrows * g.sw);
  for (int t = 0; t < nrows; ++t) {
    const float* src = plane + (int64_t)dx_reflect(ylo + t, H) * W;
    for (int jj = 0; jj < g.sw; ++jj) {
      const int* ix = xi.data() + (size_t)jj * nx;
      const double* wx = xw.data() + (size_t)jj * nx;
      double acc = 0.0;
      for (int k = 0; k < nx; ++k) acc += wx[k] * (double)src[ix[k]];
      rows[(size_t)t * g.sw + jj] = acc;
    }
  }
  for (int ii = 0; ii < g.sh; ++ii)
    for (int jj = 0; jj < g.sw; ++jj) {
      double sum = 0.0;
      for (int a = 0; a < ny; ++a) {
        const double wa = (1.0 - ty[ii]) * (double)gy[a + 1] + ty[ii] * (double)gy[a];
        if (wa != 0.0) sum += wa * rows[(size_t)(y0[ii] - ylo + a) * g.sw + jj];
      }
      scratch[g.off + ((int64_t)c * g.sh + ii) * g.sw + jj] = (float)sum;
    }
}

// = dx_gaussian_blur: vertical pass over the pre-computed horizontal rows
DX_CLONES void row_gaussian_blur(const DxBatch& b, const DxRegion& g, int n, int y, int xa, int xb, RowTmp& t) {
  DX_ROW_VARS;
  const int r = g.blur.radius, taps = 2 * r + 1;
  const float* w = b.scratch + g.blur.weights;
  const int64_t per_c = (int64_t)g.sh * g.sw;
  t.rows.resize(taps);
  for (int c = 0; c < C; ++c) {
    const float* tmp = b.scratch + g.off + c * per_c + (xa - g.sx0);
    for (int k = 0; k < taps; ++k) t.rows[k] = tmp + (int64_t)(dx_clampi(y - r + k, 0, H - 1) - g.sy0) * g.sw;
    const float* const* rw = t.rows.data();
    float* o = out + c * plane + rowoff;
#pragma omp simd
    for (int j = 0; j < len; ++j) A[j] = w[0] * rw[0][j];
    for (int k = 1; k < taps; ++k) {
      const float wk = w[k];
      const float* tk = rw[k];
#pragma omp simd
      for (int j = 0; j < len; ++j) A[j] = A[j] + wk * tk[j];
    }
#pragma omp simd
    for (int j = 0; j < len; ++j) o[j] = dx_clamp01(A[j]);
  }
}

// = dx_motion_blur, taps outside and pixels inside
DX_CLONES void row_motion_blur(const DxBatch& b, const DxRegion& g, int n, int y, int xa, int xb, RowTmp& t) {
  DX_ROW_VARS;
  const int nt = g.motion.taps;
  const float L = g.v[0], nf = (float)nt, ca = g.motion.cos_a, sa = g.motion.sin_a, ys = (float)y;
  float* acc = t.acc.data();
  int* XA = t.i0.data();
  int* XB = t.i1.data();
  for (int i = 0; i < C * len; ++i) acc[i] = 0.0f;
  for (int i = 0; i < nt; ++i) {
    const float tt = (-0.5f * L) + (L * (float)i) / (nf - 1.0f);
    const float sy = ys - tt * sa, dxo = tt * ca;
    const float y0f = floorf(sy), fy = sy - y0f;
    const int yi = (int)dx_clampf(y0f, -1.f, (float)H);
    const int64_t ra = (int64_t)dx_clampi(yi, 0, H - 1) * W, rb = (int64_t)dx_clampi(yi + 1, 0, H - 1) * W;
#pragma omp simd
    for (int j = 0; j < len; ++j) {
      const float sx = (float)(xa + j) + dxo;
      const float x0f = floorf(sx);
      A[j] = sx - x0f;
      const int xi = (int)dx_clampf(x0f, -1.f, (float)W);
      XA[j] = dx_clampi(xi, 0, W - 1);
      XB[j] = dx_clampi(xi + 1, 0, W - 1);
    }
    for (int c = 0; c < C; ++c) {
      const float* pa = img + c * plane + ra;
      const float* pb = img + c * plane + rb;
      float* ac = acc + c * len;
#pragma omp simd
      for (int j = 0; j < len; ++j) {
        const float fx = A[j];
        const float top = (1.0f - fx) * pa[XA[j]] + fx * pa[XB[j]];
        const float bot = (1.0f - fx) * pb[XA[j]] + fx * pb[XB[j]];
        ac[j] = ac[j] + ((1.0f - fy) * top + fy * bot);
      }
    }
  }
  for (int c = 0; c < C; ++c) {
    const int64_t base = c * plane + rowoff;
    for (int j = 0; j < len; ++j) out[base + j] = dx_clamp01(acc[c * len + j] / nf);
  }
}

// = dx_lowpass: bilinear upsampling of the pre-computed cells
DX_CLONES void row_lowpass(const DxBatch& b, const DxRegion& g, int n, int y, int xa, int xb, RowTmp& t) {
  DX_ROW_VARS;
  int r0i, r1i;
  float fy;
  dx_linear_src(y, g.lowpass.sy, g.lowpass.h, r0i, r1i, fy);
  int* J0 = t.i0.data();
  int* J1 = t.i1.data();
  for (int j = 0; j < len; ++j) {
    int j0, j1;
    dx_linear_src(xa + j, g.lowpass.sx, g.lowpass.w, j0, j1, A[j]);
    J0[j] = j0 - g.sx0, J1[j] = j1 - g.sx0;
  }
  const int64_t per_c = (int64_t)g.sh * g.sw;
  for (int c = 0; c < C; ++c) {
    const float* p0 = b.scratch + g.off + c * per_c + (int64_t)(r0i - g.sy0) * g.sw;
    const float* p1 = b.scratch + g.off + c * per_c + (int64_t)(r1i - g.sy0) * g.sw;
    const int64_t base = c * plane + rowoff;
#pragma omp simd
    for (int j = 0; j < len; ++j) {
      const float fx = A[j];
      out[base + j] = dx_clamp01((1.0f - fy) * ((1.0f - fx) * p0[J0[j]] + fx * p0[J1[j]]) +
                                 fy * ((1.0f - fx) * p1[J0[j]] + fx * p1[J1[j]]));
    }
  }
}

}  // namespace cpu
}  // namespace distortx
