// Fast CPU NL-means (nlm.h): the band pre-pass and the main pass's copy of the denoised box.
#include <cstddef>
#include "distort/cpu_rows.h"

namespace distortx {
namespace cpu {

// ---- NL-means: the 529 offsets swept over a band of box rows, on a reflect-padded double copy of the band,
// with 6x6 box sums kept as running sums (the terms of dx_nlm_direct, summed in another order): per offset, the
// 6-row column sums cs slide down one row at a time (cs += new row - row leaving, a ring of the last 6 rows of
// squared differences), and each box row's distances are 6-wide sums of cs.

#if defined(__GNUC__) && defined(__x86_64__)
#define DX_NLM_AVX2 1
// One box row of one offset: w = dx_nlm_weight(c[j] + ... + c[j + 5], norm) (same bits: the truncation to int32
// equals the int64 one on -7.6e6 <= A y <= 0), ws[j] += w, a0[j + k astride] += w q[j + k cstride] for k < C.
// Hand-written because GCC does not vectorise the weight (its double -> int64 cast has no AVX2 instruction).
__attribute__((target("avx2"))) void nlm_accum_row_avx2(const double* c, const double* q, size_t cstride, int C, double* ws,
                                                        double* a0, size_t astride, int bw, double norm) {
  const __m256d zero = _mm256_setzero_pd(), cut = _mm256_set1_pd(DXN_CUTOFF), negA = _mm256_set1_pd(-1512775.3951951856938);
  const __m256d vnorm = _mm256_set1_pd(norm);
  const __m128i bc = _mm_set1_epi32(1072632447);
  double *a1 = a0 + astride, *a2 = a1 + astride;
  const double *q1 = q + cstride, *q2 = q1 + cstride;
  int j = 0;
  for (; j + 4 <= bw; j += 4) {
    __m256d D = _mm256_add_pd(_mm256_loadu_pd(c + j), _mm256_loadu_pd(c + j + 1));
    D = _mm256_add_pd(D, _mm256_loadu_pd(c + j + 2));
    D = _mm256_add_pd(D, _mm256_loadu_pd(c + j + 3));
    D = _mm256_add_pd(D, _mm256_loadu_pd(c + j + 4));
    D = _mm256_add_pd(D, _mm256_loadu_pd(c + j + 5));
    const __m256d dist = _mm256_div_pd(_mm256_max_pd(D, zero), vnorm);     // max(D, 0) / norm
    const __m256d y = _mm256_mul_pd(_mm256_min_pd(dist, cut), negA);       // A * -min(dist, 5)
    const __m128i k = _mm_add_epi32(_mm256_cvttpd_epi32(y), bc);          // trunc + BC
    const __m256d r = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_cvtepu32_epi64(k), 32));
    const __m256d w = _mm256_and_pd(r, _mm256_cmp_pd(dist, cut, _CMP_LE_OQ));  // 0 beyond the cut-off
    _mm256_storeu_pd(ws + j, _mm256_add_pd(_mm256_loadu_pd(ws + j), w));
    _mm256_storeu_pd(a0 + j, _mm256_add_pd(_mm256_loadu_pd(a0 + j), _mm256_mul_pd(w, _mm256_loadu_pd(q + j))));
    if (C == 3) {
      _mm256_storeu_pd(a1 + j, _mm256_add_pd(_mm256_loadu_pd(a1 + j), _mm256_mul_pd(w, _mm256_loadu_pd(q1 + j))));
      _mm256_storeu_pd(a2 + j, _mm256_add_pd(_mm256_loadu_pd(a2 + j), _mm256_mul_pd(w, _mm256_loadu_pd(q2 + j))));
    }
  }
  for (; j < bw; ++j) {
    const double w = dx_nlm_weight(c[j] + c[j + 1] + c[j + 2] + c[j + 3] + c[j + 4] + c[j + 5], norm);
    ws[j] += w;
    for (int ch = 0; ch < C; ++ch) a0[j + ch * astride] += w * q[j + ch * cstride];
  }
}
const bool kNlmAvx2 = (__builtin_cpu_init(), __builtin_cpu_supports("avx2"));
#endif

// Squared differences of one support row summed over channels, sq[j] = sum_c (r0[j + c cs] - r1[j + c cs])^2 for
// j < n: written to dst (slide = false), or slid into the column sums: cols[j] += sq[j] - dst[j], dst[j] = sq[j].
DX_HDI void nlm_sq_row(const double* r0, const double* r1, size_t cs, int C, int n, double* __restrict dst,
                       double* __restrict cols, double* __restrict tmp, bool slide) {
  if (C == 3) {
    if (slide) {
#pragma omp simd
      for (int j = 0; j < n; ++j) {
        const double d0 = r0[j] - r1[j], d1 = r0[j + cs] - r1[j + cs], d2 = r0[j + 2 * cs] - r1[j + 2 * cs];
        const double q = d0 * d0 + d1 * d1 + d2 * d2;
        cols[j] += q - dst[j];
        dst[j] = q;
      }
    } else {
#pragma omp simd
      for (int j = 0; j < n; ++j) {
        const double d0 = r0[j] - r1[j], d1 = r0[j + cs] - r1[j + cs], d2 = r0[j + 2 * cs] - r1[j + 2 * cs];
        dst[j] = d0 * d0 + d1 * d1 + d2 * d2;
      }
    }
    return;
  }
  for (int c = 0; c < C; ++c) {
    const double *p0 = r0 + c * cs, *p1 = r1 + c * cs;
    if (c == 0) {
#pragma omp simd
      for (int j = 0; j < n; ++j) { const double d = p0[j] - p1[j]; tmp[j] = d * d; }
    } else {
#pragma omp simd
      for (int j = 0; j < n; ++j) { const double d = p0[j] - p1[j]; tmp[j] += d * d; }
    }
  }
  if (slide) {
#pragma omp simd
    for (int j = 0; j < n; ++j) { cols[j] += tmp[j] - dst[j]; dst[j] = tmp[j]; }
  } else {
#pragma omp simd
    for (int j = 0; j < n; ++j) dst[j] = tmp[j];
  }
}

DX_CLONES void nlm_band(const DxBatch& b, float* scratch, int32_t slot, int ya, int yb) {
  const DxRegion& g = b.regs[slot];
  const int C = b.C, H = b.H, W = b.W, D = DXN_D;
  const float* img = b.in + (int64_t)(slot / b.R) * C * H * W;
  const int64_t plane = (int64_t)H * W;
  const int bw = g.x1 - g.x0, bh = g.y1 - g.y0, nb = yb - ya;
  const int er = nb + 5, ec = bw + 5;            // patch-support rows ya-2 .. yb+2, columns x0-2 .. x1+2
  const int PR = er + 2 * D, PC = ec + 2 * D;    // plus the search distance on every side
  std::vector<double> J((size_t)C * PR * PC);   // J[c][i][j] = image(reflect(ya-2-D+i), reflect(x0-2-D+j))
  for (int c = 0; c < C; ++c)
    for (int i = 0; i < PR; ++i) {
      const float* row = img + c * plane + (int64_t)dx_reflect(ya - 2 - D + i, H) * W;
      double* dst = J.data() + ((size_t)c * PR + i) * PC;
      for (int j = 0; j < PC; ++j) dst[j] = (double)row[dx_reflect(g.x0 - 2 - D + j, W)];
    }
  const size_t jst = (size_t)PR * PC, ast = (size_t)nb * bw;  // channel strides of J and acc
  // ring: squared-difference rows r .. r+5 (row r at slot r % 6); cols: their sum; wv: one row of weights
  std::vector<double> ring((size_t)6 * ec), cols(ec), tmp(ec), wv(bw), acc((size_t)C * ast, 0.0), wsum(ast, 0.0);
  const double norm = dx_nlm_norm(C, g.v[0]);
  double* __restrict cs = cols.data();
  for (int ty = -D; ty <= D; ++ty) {
    for (int tx = -D; tx <= D; ++tx) {
      for (int r = 0; r < 6; ++r)
        nlm_sq_row(J.data() + (size_t)(r + D) * PC + D, J.data() + (size_t)(r + D + ty) * PC + D + tx, jst, C, ec,
                   ring.data() + (size_t)r * ec, cs, tmp.data(), false);
      {
        const double* q0 = ring.data();
#pragma omp simd
        for (int j = 0; j < ec; ++j) cs[j] = q0[j] + q0[j + ec] + q0[j + 2 * ec] + q0[j + 3 * ec] + q0[j + 4 * ec] + q0[j + 5 * ec];
      }
      for (int i = 0; i < nb; ++i) {
        if (i > 0)  // slide the column sums down one row: support row i+5 replaces row i-1 (same ring slot)
          nlm_sq_row(J.data() + (size_t)(i + 5 + D) * PC + D, J.data() + (size_t)(i + 5 + D + ty) * PC + D + tx, jst, C, ec,
                     ring.data() + (size_t)((i - 1) % 6) * ec, cs, tmp.data(), true);
        const double* q = J.data() + (size_t)(i + 2 + D + ty) * PC + 2 + D + tx;
        double* __restrict ws = wsum.data() + (size_t)i * bw;
        double* __restrict a0 = acc.data() + (size_t)i * bw;
#ifdef DX_NLM_AVX2
        if (kNlmAvx2 && (C == 1 || C == 3)) {
          nlm_accum_row_avx2(cs, q, jst, C, ws, a0, ast, bw, norm);
          continue;
        }
#endif
        double* __restrict w = wv.data();
        for (int j = 0; j < bw; ++j) w[j] = dx_nlm_weight(cs[j] + cs[j + 1] + cs[j + 2] + cs[j + 3] + cs[j + 4] + cs[j + 5], norm);
#pragma omp simd
        for (int j = 0; j < bw; ++j) ws[j] += w[j];
        for (int c = 0; c < C; ++c) {
          double* __restrict a = a0 + c * ast;
          const double* qc = q + c * jst;
#pragma omp simd
          for (int j = 0; j < bw; ++j) a[j] += w[j] * qc[j];
        }
      }
    }
  }
  for (int c = 0; c < C; ++c)
    for (int i = 0; i < nb; ++i)
      for (int j = 0; j < bw; ++j)
        scratch[g.off + ((int64_t)c * bh + (ya - g.y0 + i)) * bw + j] = (float)(acc[c * ast + (size_t)i * bw + j] / wsum[(size_t)i * bw + j]);
}

DX_CLONES void row_nlm(const DxBatch& b, const DxRegion& g, int n, int y, int xa, int xb, RowTmp& t) {
  DX_ROW_VARS;
  const int bw = g.x1 - g.x0, bh = g.y1 - g.y0;
  for (int c = 0; c < C; ++c) {
    const float* src = b.scratch + g.off + ((int64_t)c * bh + (y - g.y0)) * bw + (xa - g.x0);
    for (int j = 0; j < len; ++j) out[c * plane + rowoff + j] = dx_clamp01(src[j]);
  }
}

}  // namespace cpu
}  // namespace distortx
