// CPU backend of torch.ops.distortx.distort: checks, planning, then OpenMP loops over pre-pass jobs and over
// (image, row) segments. The arithmetic is that of the per-pixel bodies the CUDA kernels run (csrc/distort/*.h),
// element for element in the same order; only the loop structure differs (row segments, channel-planar loops the
// compiler vectorises, register-blocked filters). Hot loops are compiled twice (AVX2 and baseline x86-64) and
// picked at load time (GCC target_clones); AVX2 without FMA gives the same bits as the baseline build.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdlib>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <vector>

#include "distort/distort_plan.h"
#include "distort/pixel.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define DX_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define DX_CLONES
#endif

namespace distortx {
namespace {

// x[j] = sqrtf(x[j]) for j < n, 4 at a time (sqrtf's errno handling keeps the compiler from vectorising it;
// sqrtps is correctly rounded, so the bits equal sqrtf's).
inline void sqrt_n(float* x, int n) {
  int j = 0;
#if defined(__x86_64__)
  for (; j + 4 <= n; j += 4) _mm_storeu_ps(x + j, _mm_sqrt_ps(_mm_loadu_ps(x + j)));
#endif
  for (; j < n; ++j) x[j] = sqrtf(x[j]);
}

// ---- torch-side pre-pass hooks ---------------------------------------------------------------------------------
// o[j] = rng.normal(seed, i0 + j, stream) for j < len (p1, p2: the stream pair's prefixes): the same two-factor
// evaluation as dx_normal, vectorised; A, B are scratch (o may be A).
DX_CLONES void fill_normal_row(float* o, uint32_t p1, uint32_t p2, int64_t i0, int64_t len, float* A, float* B) {
  const uint32_t lo = (uint32_t)i0, hi = (uint32_t)((uint64_t)i0 >> 32);
#pragma omp simd
  for (int64_t j = 0; j < len; ++j) {
    A[j] = -2.0f * dx_logf(dx_uniform_at(p1, lo + (uint32_t)j, hi));
    B[j] = dx_cosf_small(6.283185307179586f * dx_uniform_at(p2, lo + (uint32_t)j, hi));
  }
  sqrt_n(A, (int)len);
#pragma omp simd
  for (int64_t j = 0; j < len; ++j) o[j] = A[j] * B[j];
}

void cpu_fill_normal(at::Tensor out, const at::Tensor& seeds, uint32_t stream) {
  const int64_t K = out.size(0), L = out.size(1), chunk = 4096;
  float* o = out.data_ptr<float>();
  const int64_t* s = seeds.data_ptr<int64_t>();
  const int64_t per_k = (L + chunk - 1) / chunk;
#pragma omp parallel
  {
    std::vector<float> A(chunk), B(chunk);
#pragma omp for schedule(static)
    for (int64_t t = 0; t < K * per_k; ++t) {
      const int64_t k = t / per_k, i0 = (t % per_k) * chunk, len = std::min(chunk, L - i0);
      fill_normal_row(o + k * L + i0, dx_bits_prefix(s[k], 2u * stream), dx_bits_prefix(s[k], 2u * stream + 1u), i0, len,
                      A.data(), B.data());
    }
  }
}

// Mean BT.601 luminance (tone.mean_luminance) of image n: per pixel 0.299 R + 0.587 G + 0.114 B in float32 as
// torch evaluates (images * w).sum(1), accumulated in double (torch: float32 cascade sums; ~1e-7 apart).
void cpu_mean_luma(const at::Tensor& images, const std::vector<int64_t>& which, float* out) {
  const int64_t C = images.size(1), HW = images.size(2) * images.size(3);
  const float* in = images.data_ptr<float>();
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t k = 0; k < (int64_t)which.size(); ++k) {
    const float* p = in + which[k] * C * HW;
    double acc = 0.0;
    if (C == 3) {
      for (int64_t i = 0; i < HW; ++i) acc += (double)((p[i] * 0.299f + p[HW + i] * 0.587f) + p[2 * HW + i] * 0.114f);
    } else {
      for (int64_t i = 0; i < HW; ++i) acc += (double)p[i];
    }
    out[k] = (float)(acc / (double)HW);
  }
}

// ---- NL-means: the 529 offsets swept over a band of box rows, on a reflect-padded double copy of the band,
// with 6x6 box sums kept as running sums (the terms of dx_nlm_direct, summed in another order): per offset, the
// 6-row column sums cs slide down one row at a time (cs += new row - row leaving, a ring of the last 6 rows of
// squared differences), and each box row's distances are 6-wide sums of cs.
constexpr int kNlmBand = 24;

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

// ---- lowpass: every cell of one channel of a region, separably. The sums of dx_lowpass_cell in the same order
// (per image row the x taps, then per cell the y taps, in double; rows of weight 0 add 0), but each row's
// horizontal sums are computed once for all the cells that read them instead of once per cell.
void lowpass_channel(const DxBatch& b, float* scratch, int32_t slot, int c) {
  const DxRegion& g = b.regs[slot];
  const int H = b.H, W = b.W, h = g.k[0], w = g.k[1], ry = g.k[2], rx = g.k[3], nx = 2 * rx + 2, ny = 2 * ry + 2;
  const float* gy = scratch + g.k[4];
  const float* gx = scratch + g.k[5];
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

// ---- pre-pass jobs: a contiguous range of one region's pre-pass elements, a blur row, an NL-means band, or a
// lowpass channel
struct Job {
  int32_t slot;
  int32_t kind;    // 0 = elements [e0, e1) through dx_prepass_elem, 1 = blur row (e0 = first element), 2 = NLM band,
                   // 3 = lowpass channel e0
  int64_t e0, e1;  // kind 2: box rows [e0, e1)
};

DX_CLONES void prepass_elems(const DxBatch& b, float* scratch, int32_t slot, int64_t e0, int64_t e1) {
  for (int64_t e = e0; e < e1; ++e) dx_prepass_elem(b, scratch, slot, e);
}

constexpr int kBlock = 16;  // register block of the filters

// Horizontal Gaussian pass of one scratch row (channel c, image row yy, columns x0..x1-1): the row is padded by
// replication, then tmp[j] = sum_k w_k pad[j + k] accumulated in k order (the order of dx_gaussian_rows).
DX_CLONES void blur_row(const DxRegion& g, float* scratch, const float* img, int H, int W, int64_t e0, std::vector<float>& pad) {
  const int r = g.k[0], n = g.sw, taps = 2 * r + 1;
  const float* w = scratch + g.k[1];
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

// ---- main pass, one row segment [xa, xb) of image n's row y owned by region g ----------------------------------
struct RowTmp {
  std::vector<float> a, b, acc;
  std::vector<int> i0, i1;
  std::vector<const float*> rows;
  void reserve(int w) {
    a.resize(w + kBlock), b.resize(w + kBlock), acc.resize(3 * (size_t)w + kBlock);
    i0.resize(w), i1.resize(w);
  }
};

DX_CLONES void row_segment(const DxBatch& b, const DxRegion& g, int n, int y, int xa, int xb, RowTmp& t) {
  const int C = b.C, H = b.H, W = b.W, len = xb - xa;
  const int64_t plane = (int64_t)H * W, ib = (int64_t)n * C * plane, rowoff = (int64_t)y * W + xa;
  const float* img = b.in + ib;
  float* out = b.out + ib;
  float* A = t.a.data();
  float* B = t.b.data();
  switch (g.code) {
    case DX_GAUSSIAN_NOISE:
    case DX_GAUSSIAN_NOISE_SIGMA: {  // = dx_gaussian_noise: x + std * sqrtf(L) * K
      const float sd = g.a[0];
      const uint32_t p1 = dx_bits_prefix(g.seed, 0u), p2 = dx_bits_prefix(g.seed, 1u);
      for (int c = 0; c < C; ++c) {
        const int64_t base = c * plane + rowoff;
        fill_normal_row(A, p1, p2, base, len, A, B);  // per-image index < 2^32: high word 0
#pragma omp simd
        for (int j = 0; j < len; ++j) out[base + j] = dx_clamp01(img[base + j] + sd * A[j]);
      }
      return;
    }
    case DX_MONO_GAUSSIAN_NOISE: {  // = dx_mono_noise
      const float sd = g.v[0] / 255.0f;
      const uint32_t p1 = dx_bits_prefix(g.seed, 0u), p2 = dx_bits_prefix(g.seed, 1u);
      fill_normal_row(A, p1, p2, rowoff, len, A, B);
#pragma omp simd
      for (int j = 0; j < len; ++j) A[j] = sd * A[j];
      for (int c = 0; c < C; ++c) {
        const int64_t base = c * plane + rowoff;
#pragma omp simd
        for (int j = 0; j < len; ++j) out[base + j] = dx_clamp01(img[base + j] + A[j]);
      }
      return;
    }
    case DX_SALT_PEPPER: {  // = dx_salt_pepper: one draw per channel value
      const float amount = g.v[0], half = 0.5f * amount;
      const uint32_t p1 = dx_bits_prefix(g.seed, 0u);
      for (int c = 0; c < C; ++c) {
        const int64_t base = c * plane + rowoff;
        const uint32_t lo = (uint32_t)base;  // per-image index < 2^31: high word 0
#pragma omp simd
        for (int j = 0; j < len; ++j) A[j] = dx_uniform_at(p1, lo + (uint32_t)j, 0u);
#pragma omp simd
        for (int j = 0; j < len; ++j) out[base + j] = A[j] < half ? 0.0f : (A[j] < amount ? 1.0f : dx_clamp01(img[base + j]));
      }
      return;
    }
    case DX_MONO_SALT_PEPPER: {  // = dx_mono_salt_pepper: one draw per pixel
      const float amount = g.v[0], half = 0.5f * amount;
      const uint32_t p1 = dx_bits_prefix(g.seed, 0u), lo = (uint32_t)rowoff;
#pragma omp simd
      for (int j = 0; j < len; ++j) A[j] = dx_uniform_at(p1, lo + (uint32_t)j, 0u);
      for (int c = 0; c < C; ++c) {
        const int64_t base = c * plane + rowoff;
#pragma omp simd
        for (int j = 0; j < len; ++j) out[base + j] = A[j] < half ? 0.0f : (A[j] < amount ? 1.0f : dx_clamp01(img[base + j]));
      }
      return;
    }
    case DX_QUANTIZATION: {  // = dx_quantization
      const float L = g.a[0];
      for (int c = 0; c < C; ++c) {
        const int64_t base = c * plane + rowoff;
#pragma omp simd
        for (int j = 0; j < len; ++j) out[base + j] = dx_clamp01(dx_quantize(img[base + j], L));
      }
      return;
    }
    case DX_CONTRAST: {  // = dx_contrast
      const float amt = g.v[0], gray = b.scratch[g.off], keep = 1.0f - amt, add = amt * gray;
      for (int c = 0; c < C; ++c) {
        const int64_t base = c * plane + rowoff;
#pragma omp simd
        for (int j = 0; j < len; ++j) out[base + j] = dx_clamp01(keep * img[base + j] + add);
      }
      return;
    }
    case DX_FNOISE: {  // = dx_fnoise
      const float sc = g.v[0] * DX_FNOISE_STD_PER_F;
      const float* field = b.scratch + g.off;
      for (int c = 0; c < C; ++c) {
        const int64_t base = c * plane + rowoff;
#pragma omp simd
        for (int j = 0; j < len; ++j) out[base + j] = dx_clamp01(img[base + j] + sc * field[base + j]);
      }
      return;
    }
    case DX_GAUSSIAN_BLUR: {  // = dx_gaussian_blur: vertical pass over the pre-computed horizontal rows
      const int r = g.k[0], taps = 2 * r + 1;
      const float* w = b.scratch + g.k[1];
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
      return;
    }
    case DX_MOTION_BLUR: {  // = dx_motion_blur, taps outside and pixels inside
      const int nt = g.k[0];
      const float L = g.v[0], nf = (float)nt, ca = g.a[0], sa = g.a[1], ys = (float)y;
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
      return;
    }
    case DX_LOWPASS: {  // = dx_lowpass: bilinear upsampling of the pre-computed cells
      int r0i, r1i;
      float fy;
      dx_linear_src(y, g.a[0], g.k[0], r0i, r1i, fy);
      int* J0 = t.i0.data();
      int* J1 = t.i1.data();
      for (int j = 0; j < len; ++j) {
        int j0, j1;
        dx_linear_src(xa + j, g.a[1], g.k[1], j0, j1, A[j]);
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
      return;
    }
    case DX_TWIRL: {  // = dx_twirl: source positions vectorised, bilinear taps gathered
      if (g.k[0] == 0) break;  // angle 0 or radius 0: a copy (default below)
      const float Ang = g.a[0], R = g.a[1], ox = g.a[2], oy = g.a[3], dy = (float)y - oy;
      float* SX = t.acc.data();
      float* SY = SX + len;
#pragma omp simd
      for (int j = 0; j < len; ++j) {
        const float dx = (float)(xa + j) - ox;
        A[j] = dx * dx + dy * dy;
      }
      sqrt_n(A, len);
#pragma omp simd
      for (int j = 0; j < len; ++j) {
        const float dx = (float)(xa + j) - ox, d = A[j];
        const float a = dx_atan2f(dy, dx) + Ang * (R - d) / R;
        float sa, ca;
        dx_sincosf(a, sa, ca);
        SX[j] = ox + d * ca;
        SY[j] = oy + d * sa;
      }
      float o[4];
      for (int j = 0; j < len; ++j) {
        const int64_t p = rowoff + j;
        if (A[j] < R) {
          dx_bilinear(img, C, H, W, SX[j], SY[j], o);
          for (int c = 0; c < C; ++c) out[c * plane + p] = dx_clamp01(o[c]);
        } else {
          for (int c = 0; c < C; ++c) out[c * plane + p] = dx_clamp01(img[c * plane + p]);
        }
      }
      return;
    }
    case DX_MARBLE: {  // = dx_marble: noise gathered from the lattice table, displacement vectorised
      const float scale = g.v[1], m = g.v[0] * scale, ys = (float)y;
      float* SX = t.acc.data();
      float* SY = SX + len;
      for (int j = 0; j < len; ++j) A[j] = dx_perlin(g, b.scratch, (float)(xa + j) / scale, ys / scale);
#pragma omp simd
      for (int j = 0; j < len; ++j) {
        const float xs = (float)(xa + j);
        const float phi = 3.14159265358979323846f * (1.0f + A[j]);
        float sp, cp;
        dx_sincosf(phi, sp, cp);
        SX[j] = xs + (-m) * sp;
        SY[j] = ys + m * cp;
      }
      float o[4];
      for (int j = 0; j < len; ++j) {
        dx_bilinear(img, C, H, W, SX[j], SY[j], o);
        for (int c = 0; c < C; ++c) out[c * plane + rowoff + j] = dx_clamp01(o[c]);
      }
      return;
    }
    case DX_JPEG: {
      float o[4];
      for (int x = xa; x < xb; ++x) {
        dx_jpeg(g, b.scratch, C, H, W, y, x, o);
        for (int c = 0; c < C; ++c) out[c * plane + (int64_t)y * W + x] = o[c];  // already k / 255 in [0, 1]
      }
      return;
    }
    case DX_NLM_DENOISE: {
      const int bw = g.x1 - g.x0, bh = g.y1 - g.y0;
      for (int c = 0; c < C; ++c) {
        const float* src = b.scratch + g.off + ((int64_t)c * bh + (y - g.y0)) * bw + (xa - g.x0);
        for (int j = 0; j < len; ++j) out[c * plane + rowoff + j] = dx_clamp01(src[j]);
      }
      return;
    }
    default:
      break;
  }
  {  // per-pixel bodies (identity, and the twirl's copy case)
    float o[4];
    for (int x = xa; x < xb; ++x) {
      dx_pixel(b, g, n, y, x, o);
      for (int c = 0; c < C; ++c) out[c * plane + (int64_t)y * W + x] = dx_clamp01(o[c]);
    }
  }
}

at::Tensor distort_cpu(const at::Tensor& images, const at::Tensor& codes, const at::Tensor& values,
                       const at::Tensor& boxes, const at::Tensor& seeds) {
  dx_check_args(images, codes, values, boxes, seeds);
  TORCH_CHECK(images.device().is_cpu(), "distortx.distort (CPU): images must be on the CPU");
  at::Tensor out = at::empty_like(images);
  if (images.numel() == 0) return out;
  DxPlan plan = dx_make_plan(images, codes, values, boxes, seeds, DxBackend{cpu_fill_normal, cpu_mean_luma});
  if (plan.active == 0) return out.copy_(images);

  DxBatch b;
  b.in = images.data_ptr<float>();
  b.out = out.data_ptr<float>();
  b.regs = plan.regs.data();
  b.scratch = plan.scratch.data_ptr<float>();
  b.N = (int)images.size(0), b.C = (int)images.size(1), b.H = (int)images.size(2), b.W = (int)images.size(3);
  b.R = (int)codes.size(1);

  if (plan.pass_total > 0) {  // pre-passes: blur rows, lowpass cells, JPEG blocks, marble lattice, NL-means
    float* scratch = plan.scratch.data_ptr<float>();
    // NL-means runs as row bands unless DISTORTX_NLM_DIRECT=1 asks for the CUDA kernel's per-pixel body
    const char* direct_env = std::getenv("DISTORTX_NLM_DIRECT");
    const bool nlm_direct = direct_env != nullptr && direct_env[0] == '1';
    // lowpass runs as separable channel jobs unless DISTORTX_LOWPASS_CELLS=1 asks for the CUDA per-cell body
    const char* cells_env = std::getenv("DISTORTX_LOWPASS_CELLS");
    const bool lowpass_cells = cells_env != nullptr && cells_env[0] == '1';
    std::vector<Job> jobs;
    for (size_t k = 0; k + 1 < plan.passes.size(); ++k) {
      const int32_t slot = plan.passes[k].slot;
      const DxRegion& g = plan.regs[slot];
      const int64_t size = plan.passes[k + 1].begin - plan.passes[k].begin;
      if (g.code == DX_NLM_DENOISE && !nlm_direct) {
        for (int ya = g.y0; ya < g.y1; ya += kNlmBand) jobs.push_back(Job{slot, 2, ya, std::min(g.y1, ya + kNlmBand)});
      } else if (g.code == DX_GAUSSIAN_BLUR) {
        for (int64_t e = 0; e < size; e += g.sw) jobs.push_back(Job{slot, 1, e, e + g.sw});
      } else if (g.code == DX_LOWPASS && !lowpass_cells) {
        for (int c = 0; c < b.C; ++c) jobs.push_back(Job{slot, 3, c, c + 1});
      } else {
        const int64_t chunk = g.code == DX_JPEG ? 4 : (g.code == DX_NLM_DENOISE || g.code == DX_LOWPASS ? 8 : 256);
        for (int64_t e = 0; e < size; e += chunk) jobs.push_back(Job{slot, 0, e, std::min(size, e + chunk)});
      }
    }
#pragma omp parallel
    {
      std::vector<float> pad;
#pragma omp for schedule(dynamic, 1)
      for (int64_t i = 0; i < (int64_t)jobs.size(); ++i) {
        const Job& j = jobs[i];
        if (j.kind == 3) {
          lowpass_channel(b, scratch, j.slot, (int)j.e0);
        } else if (j.kind == 2) {
          nlm_band(b, scratch, j.slot, (int)j.e0, (int)j.e1);
        } else if (j.kind == 1) {
          const float* img = b.in + (int64_t)(j.slot / b.R) * b.C * b.H * b.W;
          blur_row(b.regs[j.slot], scratch, img, b.H, b.W, j.e0, pad);
        } else {
          prepass_elems(b, scratch, j.slot, j.e0, j.e1);
        }
      }
    }
  }

  const int64_t rows = (int64_t)b.N * b.H, plane = (int64_t)b.H * b.W;
#pragma omp parallel
  {
    std::vector<int> act(b.R);
    std::vector<int> cuts(2 * b.R + 2);
    RowTmp tmp;
    tmp.reserve(b.W);
#pragma omp for schedule(dynamic, 4)
    for (int64_t t = 0; t < rows; ++t) {
      const int n = (int)(t / b.H), y = (int)(t % b.H);
      const DxRegion* regs = b.regs + (int64_t)n * b.R;
      const int64_t base = (int64_t)n * b.C * plane + (int64_t)y * b.W;
      int na = 0;  // regions covering this row, last first (the first hit wins)
      for (int r = b.R - 1; r >= 0; --r)
        if (regs[r].code != DX_NONE && y >= regs[r].y0 && y < regs[r].y1) act[na++] = r;
      // the winner is constant between consecutive box edges: cut the row there
      int nc = 0;
      cuts[nc++] = 0;
      cuts[nc++] = b.W;
      for (int i = 0; i < na; ++i) cuts[nc++] = regs[act[i]].x0, cuts[nc++] = regs[act[i]].x1;
      std::sort(cuts.begin(), cuts.begin() + nc);
      for (int k = 0; k + 1 < nc; ++k) {
        const int xa = cuts[k], xb = cuts[k + 1];
        if (xa == xb) continue;
        int win = -1;
        for (int i = 0; i < na; ++i)
          if (xa >= regs[act[i]].x0 && xa < regs[act[i]].x1) { win = act[i]; break; }
        if (win < 0) {
          for (int c = 0; c < b.C; ++c) std::copy(b.in + base + c * plane + xa, b.in + base + c * plane + xb, b.out + base + c * plane + xa);
        } else {
          row_segment(b, regs[win], n, y, xa, xb, tmp);
        }
      }
    }
  }
  return out;
}

std::vector<int64_t> distort_native_codes() { return dx_native_codes(); }

}  // namespace
}  // namespace distortx

TORCH_LIBRARY_IMPL(distortx, CPU, m) { m.impl("distort", &distortx::distort_cpu); }
TORCH_LIBRARY_IMPL(distortx, CompositeExplicitAutograd, m) {
  m.impl("distort_native_codes", &distortx::distort_native_codes);
}
