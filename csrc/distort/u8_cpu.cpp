// The uint8 CPU path of torch.ops.distortx.distort: images uint8 [N, C, H, W], NCHW- or channels-last-contiguous
// (a numpy N x H x W x C batch seen through permute(0, 3, 1, 2) is the latter: no copy), result uint8 in the same
// memory format. The reference is the float op on images / 255 followed by clamp(0, 1) * 255 rounded half to
// even (what distortx.distortions.edges.from_batch gives back for uint8 input):
//   quantization            a 256-entry table per region, filled by the float body: equal, bit for bit;
//   contrast                the same, with the grey level from exact integer channel sums: within 1 grey level
//                           (equal but where the float op's rounding of its grey level decides a tie);
//   gaussian_blur           separable Q15 fixed point on 16-bit lanes (pmulhrsw): within 1 grey level;
//   lowpass                 the cells down the rows in Q15 then along x in float, the upsampling in Q7: within 1 level;
//   motion_blur             its samples merged into one sparse 2-D filter in Q15: within 1 grey level;
//   gaussian_noise(_sigma)  the float body row by row on k / 255 (bytes in and out, no image-sized float buffer): equal;
//   every other code        the images are converted to float32 here, row by row in chunks of images, the float op
//                           runs and the result is rounded back: equal, bit for bit. A batch with any such code
//                           takes this route as a whole.
// Regions are drawn in order (later boxes overwrite earlier ones, each computed from the clean image) after a
// copy of the images that is skipped for images covered by one box.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

#include "distort/cpu_rows.h"
#include "distort/distort_plan.h"

namespace distortx {
namespace cpu {

namespace {

// k / 255 as torch's x.float().div_(255) computes it (the float op's view of a uint8 value).
struct U8ToFloat {
  float v[256];
  U8ToFloat() {
    for (int k = 0; k < 256; ++k) v[k] = (float)k / 255.0f;
  }
};
const float* u8_to_float() {
  static const U8ToFloat table;
  return table.v;
}

// = from_batch: clamp(0, 1) * 255, rounded half to even (nearbyintf in the default rounding mode).
inline uint8_t float_to_u8(float v) { return (uint8_t)nearbyintf(dx_clamp01(v) * 255.0f); }

// Where the values of one image are: NCHW (px = 1, ch = H W) or NHWC (px = C, ch = 1), in elements. A "line" is
// what a horizontal filter runs along: one channel's row (NCHW, C lines of W values, step 1) or a whole
// interleaved row (NHWC, one line of W C values, neighbouring pixels `step` = C values apart).
struct U8Layout {
  int C = 0, H = 0, W = 0;
  int64_t image = 0, row = 0, px = 0, ch = 0;
  int lines() const { return px == 1 ? C : 1; }
  int step() const { return px == 1 ? 1 : C; }
  int64_t line_off(int l) const { return px == 1 ? l * ch : 0; }
};

U8Layout layout_of(const at::Tensor& images) {
  U8Layout L;
  L.C = (int)images.size(1), L.H = (int)images.size(2), L.W = (int)images.size(3);
  L.image = images.stride(0), L.row = images.stride(2), L.px = images.stride(3), L.ch = images.stride(1);
  if (L.C == 1) L.px = 1, L.ch = (int64_t)L.H * L.W;  // both formats are the same memory
  return L;
}

// The vector loops run where the CPU has them (checked once, at load) unless DISTORTX_U8_SIMD=0: then every loop
// runs its scalar twin, which computes the same bits (tests/test_native_u8.py compares the two).
bool simd_allowed() {
  const char* env = std::getenv("DISTORTX_U8_SIMD");
  return env == nullptr || std::strcmp(env, "0") != 0;
}

// ---- lookup tables: quantization, contrast --------------------------------------------------------------
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
// 64 values per step: two 128-entry byte permutes (vpermi2b) and a blend on the index's top bit.
__attribute__((target("avx512f,avx512bw,avx512vbmi,bmi2"))) void lut_span_vbmi(const uint8_t* src, uint8_t* dst, int64_t n,
                                                                           const uint8_t* lut) {
  const __m512i t0 = _mm512_loadu_si512(lut), t1 = _mm512_loadu_si512(lut + 64);
  const __m512i t2 = _mm512_loadu_si512(lut + 128), t3 = _mm512_loadu_si512(lut + 192);
  int64_t j = 0;
  for (; j + 64 <= n; j += 64) {
    const __m512i idx = _mm512_loadu_si512(src + j);
    const __m512i lo = _mm512_permutex2var_epi8(t0, idx, t1), hi = _mm512_permutex2var_epi8(t2, idx, t3);
    _mm512_storeu_si512(dst + j, _mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), lo, hi));
  }
  if (j < n) {  // the tail under a mask
    const __mmask64 m = _bzhi_u64(~0ull, (unsigned)(n - j));
    const __m512i idx = _mm512_maskz_loadu_epi8(m, src + j);
    const __m512i lo = _mm512_permutex2var_epi8(t0, idx, t1), hi = _mm512_permutex2var_epi8(t2, idx, t3);
    _mm512_mask_storeu_epi8(dst + j, m, _mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), lo, hi));
  }
}
const bool kHasVbmi = simd_allowed() && __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("bmi2");
#else
const bool kHasVbmi = false;
void lut_span_vbmi(const uint8_t*, uint8_t*, int64_t, const uint8_t*) {}
#endif

void lut_span(const uint8_t* src, uint8_t* dst, int64_t n, const uint8_t* lut) {
  if (kHasVbmi) return lut_span_vbmi(src, dst, n, lut);
  for (int64_t j = 0; j < n; ++j) dst[j] = lut[src[j]];
}

// The region's table: lut[k] = the float body at k / 255, rounded back.
void region_lut(const DxRegion& g, const float* scratch, uint8_t* lut) {
  const float* f = u8_to_float();
  if (g.code == DX_QUANTIZATION) {
    for (int k = 0; k < 256; ++k) lut[k] = float_to_u8(dx_quantize(f[k], g.quant.levels));
  } else {  // DX_CONTRAST, as row_contrast computes it
    const float amt = g.v[0], gray = scratch[g.off], keep = 1.0f - amt, add = amt * gray;
    for (int k = 0; k < 256; ++k) lut[k] = float_to_u8(keep * f[k] + add);
  }
}

void lut_rows(const U8Layout& L, const uint8_t* in, uint8_t* out, const DxRegion& g, const uint8_t* lut, int ya, int yb) {
  const int s = L.step();
  const int64_t a = (int64_t)g.x0 * s, len = (int64_t)(g.x1 - g.x0) * s;
  if (len == L.row) {  // whole rows: one span per line
    for (int l = 0; l < L.lines(); ++l) {
      const int64_t o = ya * L.row + L.line_off(l);
      lut_span(in + o, out + o, (yb - ya) * len, lut);
    }
    return;
  }
  for (int y = ya; y < yb; ++y)
    for (int l = 0; l < L.lines(); ++l) {
      const int64_t o = y * L.row + L.line_off(l) + a;
      lut_span(in + o, out + o, len, lut);
    }
}

// ---- gaussian_blur in Q15 fixed point -------------------------------------------------------------------------
// Values carry 7 fraction bits (v << 7 <= 32640); each tap is round(x w / 2^15) (pmulhrsw) with the weights in
// Q15 (their sum made exactly 2^15 at the centre tap), summed in int16. The horizontal pass writes rows of the
// box's columns, the vertical pass sums them and rounds to 8 bits.
inline int16_t mulhrs(int16_t a, int16_t b) { return (int16_t)(((((int32_t)a * b) >> 14) + 1) >> 1); }

// Non-negative weights summing to 1 -> Q15, their sum made exactly 2^15 at the largest one (the rounding error
// goes where it is relatively smallest).
std::vector<int16_t> to_q15(const std::vector<double>& w) {
  std::vector<int16_t> q(w.size());
  int32_t sum = 0;
  size_t big = 0;
  for (size_t k = 0; k < w.size(); ++k) {
    sum += (q[k] = (int16_t)std::lround(w[k] * 32768.0));
    if (w[k] > w[big]) big = k;
  }
  q[big] = (int16_t)std::min<int32_t>(32767, q[big] + (32768 - sum));
  return q;
}


// acc[j] = sum_k mulhrs(src[k][j], w[k]), j < n: one horizontal (src[k] = the padded row shifted by k pixels) or
// vertical (src[k] = the k-th row of the window) pass. AVX2: blocks of 64 values stay in four registers across the
// taps; the scalar loop gives the same bits (pmulhrsw is exact integer arithmetic).
void fir_q15_scalar(const int16_t* const* src, const int16_t* w, int taps, int j0, int n, int16_t* acc) {
  for (int j = j0; j < n; ++j) {
    int16_t a = 0;
    for (int k = 0; k < taps; ++k) a = (int16_t)(a + mulhrs(src[k][j], w[k]));
    acc[j] = a;
  }
}

#if defined(__GNUC__) && defined(__x86_64__)
__attribute__((target("avx2"))) void fir_q15_avx2(const int16_t* const* src, const int16_t* w, int taps, int n, int16_t* acc) {
  int j = 0;
  for (; j + 64 <= n; j += 64) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (int k = 0; k < taps; ++k) {
      const __m256i wk = _mm256_set1_epi16(w[k]);
      const int16_t* s = src[k] + j;
      a0 = _mm256_add_epi16(a0, _mm256_mulhrs_epi16(_mm256_loadu_si256((const __m256i*)s), wk));
      a1 = _mm256_add_epi16(a1, _mm256_mulhrs_epi16(_mm256_loadu_si256((const __m256i*)(s + 16)), wk));
      a2 = _mm256_add_epi16(a2, _mm256_mulhrs_epi16(_mm256_loadu_si256((const __m256i*)(s + 32)), wk));
      a3 = _mm256_add_epi16(a3, _mm256_mulhrs_epi16(_mm256_loadu_si256((const __m256i*)(s + 48)), wk));
    }
    _mm256_storeu_si256((__m256i*)(acc + j), a0);
    _mm256_storeu_si256((__m256i*)(acc + j + 16), a1);
    _mm256_storeu_si256((__m256i*)(acc + j + 32), a2);
    _mm256_storeu_si256((__m256i*)(acc + j + 48), a3);
  }
  for (; j + 16 <= n; j += 16) {
    __m256i a = _mm256_setzero_si256();
    for (int k = 0; k < taps; ++k)
      a = _mm256_add_epi16(a, _mm256_mulhrs_epi16(_mm256_loadu_si256((const __m256i*)(src[k] + j)), _mm256_set1_epi16(w[k])));
    _mm256_storeu_si256((__m256i*)(acc + j), a);
  }
  fir_q15_scalar(src, w, taps, j, n, acc);
}
// AVX-512BW: the same with 32 lanes (blocks of 128 values in four registers), the rest through the AVX2 loop.
__attribute__((target("avx512f,avx512bw,avx2"))) void fir_q15_avx512(const int16_t* const* src, const int16_t* w, int taps,
                                                                    int n, int16_t* acc) {
  int j = 0;
  for (; j + 128 <= n; j += 128) {
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (int k = 0; k < taps; ++k) {
      const __m512i wk = _mm512_set1_epi16(w[k]);
      const int16_t* s = src[k] + j;
      a0 = _mm512_add_epi16(a0, _mm512_mulhrs_epi16(_mm512_loadu_si512(s), wk));
      a1 = _mm512_add_epi16(a1, _mm512_mulhrs_epi16(_mm512_loadu_si512(s + 32), wk));
      a2 = _mm512_add_epi16(a2, _mm512_mulhrs_epi16(_mm512_loadu_si512(s + 64), wk));
      a3 = _mm512_add_epi16(a3, _mm512_mulhrs_epi16(_mm512_loadu_si512(s + 96), wk));
    }
    _mm512_storeu_si512(acc + j, a0);
    _mm512_storeu_si512(acc + j + 32, a1);
    _mm512_storeu_si512(acc + j + 64, a2);
    _mm512_storeu_si512(acc + j + 96, a3);
  }
  if (j < n) {
    const int16_t* rest[128];  // taps = 2 ceil(2 sigma) + 1 <= 81 (sigma <= 20)
    if (taps > 128) return fir_q15_avx2(src, w, taps, n, acc);
    for (int k = 0; k < taps; ++k) rest[k] = src[k] + j;
    fir_q15_avx2(rest, w, taps, n - j, acc + j);
  }
}
const bool kHasAvx2 = simd_allowed() && __builtin_cpu_supports("avx2");
const bool kHasAvx512 = simd_allowed() && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512f");
#else
const bool kHasAvx2 = false, kHasAvx512 = false;
void fir_q15_avx2(const int16_t* const*, const int16_t*, int, int, int16_t*) {}
void fir_q15_avx512(const int16_t* const*, const int16_t*, int, int, int16_t*) {}
#endif

void fir_q15(const int16_t* const* src, const int16_t* w, int taps, int n, int16_t* acc) {
  if (kHasAvx512) return fir_q15_avx512(src, w, taps, n, acc);
  if (kHasAvx2) return fir_q15_avx2(src, w, taps, n, acc);
  fir_q15_scalar(src, w, taps, 0, n, acc);
}

DX_CLONES_512 void widen_q7(const uint8_t* __restrict src, int n, int16_t* __restrict dst) {
  for (int j = 0; j < n; ++j) dst[j] = (int16_t)(src[j] << 7);
}

void round_q7_scalar(const int16_t* acc, int j, int n, uint8_t* dst) {
  for (; j < n; ++j) dst[j] = (uint8_t)std::clamp((acc[j] + 64) >> 7, 0, 255);
}

#if defined(__GNUC__) && defined(__x86_64__)
// (acc + 64) >> 7 saturated to 0..255: packus saturates as the clamp does.
__attribute__((target("avx2"))) void round_q7_avx2(const int16_t* acc, int n, uint8_t* dst) {
  const __m256i half = _mm256_set1_epi16(64);
  int j = 0;
  for (; j + 32 <= n; j += 32) {
    const __m256i a = _mm256_srai_epi16(_mm256_adds_epi16(_mm256_loadu_si256((const __m256i*)(acc + j)), half), 7);
    const __m256i b = _mm256_srai_epi16(_mm256_adds_epi16(_mm256_loadu_si256((const __m256i*)(acc + j + 16)), half), 7);
    _mm256_storeu_si256((__m256i*)(dst + j), _mm256_permute4x64_epi64(_mm256_packus_epi16(a, b), 0xD8));
  }
  round_q7_scalar(acc, j, n, dst);
}
#else
void round_q7_avx2(const int16_t*, int, uint8_t*) {}
#endif

void round_q7(const int16_t* acc, int n, uint8_t* dst) {
  if (kHasAvx2) return round_q7_avx2(acc, n, dst);
  round_q7_scalar(acc, 0, n, dst);
}

// dst = the values of pixels [xa, xb) of a line (s values a pixel), x clamped into the image, << 7.
void pad_line_q7(const uint8_t* line, int xa, int xb, int s, int W, int16_t* dst) {
  const int ia = std::clamp(xa, 0, W), ib = std::clamp(xb, ia, W);  // inside the image: one widening copy
  for (int x = xa; x < ia; ++x, dst += s)
    for (int c = 0; c < s; ++c) dst[c] = (int16_t)(line[c] << 7);
  widen_q7(line + (int64_t)ia * s, (ib - ia) * s, dst);
  dst += (int64_t)(ib - ia) * s;
  for (int x = ib; x < xb; ++x, dst += s)
    for (int c = 0; c < s; ++c) dst[c] = (int16_t)(line[(int64_t)(W - 1) * s + c] << 7);
}

// Rows [ya, yb) of region g's box: the horizontal pass over the rows they read, then the vertical one. A row of the
// window buffer holds every line's box columns, each rounded up to 16 values (whole vectors, no scalar tails; the
// extra values are computed and never stored).
void blur_rows(const U8Layout& L, const uint8_t* in, uint8_t* out, const DxRegion& g, const int16_t* w, int ya, int yb,
               std::vector<int16_t>& buf) {
  const int r = g.blur.radius, taps = 2 * r + 1, s = L.step(), H = L.H, W = L.W, lines = L.lines();
  const int n = (g.x1 - g.x0) * s, nr = (n + 15) & ~15, padded = nr + 2 * r * s, row = lines * nr;
  const int ha = std::max(0, ya - r), hb = std::min(H, yb + r), nh = hb - ha;
  buf.assign((size_t)nh * row + padded + row, 0);
  int16_t* rows = buf.data();
  int16_t* pad = rows + (size_t)nh * row;
  int16_t* acc = pad + padded;
  std::vector<const int16_t*> src(taps);
  for (int yy = ha; yy < hb; ++yy)
    for (int l = 0; l < lines; ++l) {  // pad the line by its edge pixels (clamped x), values << 7
      const uint8_t* line = in + yy * L.row + L.line_off(l);
      pad_line_q7(line, g.x0 - r, g.x1 + r, s, W, pad);
      for (int k = 0; k < taps; ++k) src[k] = pad + k * s;
      fir_q15(src.data(), w, taps, nr, rows + (size_t)(yy - ha) * row + (size_t)l * nr);
    }
  for (int y = ya; y < yb; ++y) {
    for (int k = 0; k < taps; ++k) src[k] = rows + (size_t)(dx_clampi(y - r + k, 0, H - 1) - ha) * row;
    fir_q15(src.data(), w, taps, row, acc);
    for (int l = 0; l < lines; ++l) round_q7(acc + (size_t)l * nr, n, out + y * L.row + L.line_off(l) + (int64_t)g.x0 * s);
  }
}

// ---- motion_blur as one sparse 2-D filter in Q15 ------------------------------------------------------------------
// dx_motion_blur averages n bilinear samples at (x + t_i cos a, y - t_i sin a); the fraction of x + t_i cos a is
// the fraction of t_i cos a, so each sample is the same four-pixel blend everywhere (the float op's clamped
// coordinates are the replicated border). Summed over the samples, the blur is one filter: weight w at pixel
// offsets (dy, dx), merged where samples share pixels, in Q15 (sum exactly 2^15), applied to rows padded by
// replication: within 1 grey level.
struct MotionTaps {
  std::vector<int> dy, dx;
  std::vector<int16_t> w;
  int dx_lo = 0, dx_hi = 0, dy_lo = 0, dy_hi = 0;
};

MotionTaps motion_taps(const DxRegion& g) {
  const int n = g.motion.taps;
  const float L = g.v[0], nf = (float)n, ca = g.motion.cos_a, sa = g.motion.sin_a;
  std::map<std::pair<int, int>, double> acc;
  for (int i = 0; i < n; ++i) {
    const float tt = (-0.5f * L) + (L * (float)i) / (nf - 1.0f);  // = dx_motion_blur's sample offsets
    const double sx = (double)(tt * ca), sy = -(double)(tt * sa);
    const double x0 = std::floor(sx), y0 = std::floor(sy), fx = sx - x0, fy = sy - y0;
    const int ox = (int)x0, oy = (int)y0;
    acc[{oy, ox}] += (1.0 - fx) * (1.0 - fy) / n;
    acc[{oy, ox + 1}] += fx * (1.0 - fy) / n;
    acc[{oy + 1, ox}] += (1.0 - fx) * fy / n;
    acc[{oy + 1, ox + 1}] += fx * fy / n;
  }
  MotionTaps t;
  std::vector<double> w;  // the offsets with a non-zero Q15 weight
  for (const auto& [off, wk] : acc)
    if (std::lround(wk * 32768.0) != 0) t.dy.push_back(off.first), t.dx.push_back(off.second), w.push_back(wk);
  t.w = to_q15(w);
  t.dx_lo = *std::min_element(t.dx.begin(), t.dx.end()), t.dx_hi = *std::max_element(t.dx.begin(), t.dx.end());
  t.dy_lo = *std::min_element(t.dy.begin(), t.dy.end()), t.dy_hi = *std::max_element(t.dy.begin(), t.dy.end());
  return t;
}

// Rows [ya, yb) of region g's box: the source rows they read, padded along x, then one filter pass per row.
void motion_rows(const U8Layout& L, const uint8_t* in, uint8_t* out, const DxRegion& g, const MotionTaps& t, int ya,
                 int yb, std::vector<int16_t>& buf) {
  const int s = L.step(), H = L.H, W = L.W, lines = L.lines(), taps = (int)t.w.size();
  const int xa = g.x0 + t.dx_lo, xb = g.x1 + t.dx_hi, n = (g.x1 - g.x0) * s, nr = (n + 15) & ~15;
  const int width = (xb - xa) * s + 16, row = lines * width;  // padded pixels [xa, xb) of each line, + slack
  const int ha = std::clamp(ya + t.dy_lo, 0, H - 1), hb = std::clamp(yb - 1 + t.dy_hi, 0, H - 1) + 1, nh = hb - ha;
  buf.assign((size_t)nh * row + lines * nr, 0);
  int16_t* rows = buf.data();
  int16_t* acc = rows + (size_t)nh * row;
  for (int yy = ha; yy < hb; ++yy)
    for (int l = 0; l < lines; ++l) pad_line_q7(in + yy * L.row + L.line_off(l), xa, xb, s, W, rows + (size_t)(yy - ha) * row + l * width);
  std::vector<const int16_t*> src(taps);
  for (int y = ya; y < yb; ++y)
    for (int l = 0; l < lines; ++l) {
      for (int k = 0; k < taps; ++k)
        src[k] = rows + (size_t)(std::clamp(y + t.dy[k], 0, H - 1) - ha) * row + l * width + (t.dx[k] - t.dx_lo) * s;
      fir_q15(src.data(), t.w.data(), taps, n, acc);
      round_q7(acc, n, out + y * L.row + L.line_off(l) + (int64_t)g.x0 * s);
    }
}

// ---- gaussian_noise, gaussian_noise_sigma: the float body on each row, bytes in and out ----------------------
// = row_gaussian_noise on k / 255, then float_to_u8: equal, bit for bit (same normals, same float expression).
void split_rgb(const uint8_t* p, int W, uint8_t* r, uint8_t* g, uint8_t* b);
void join_rgb(const uint8_t* r, const uint8_t* g, const uint8_t* b, int W, uint8_t* p);

DX_CLONES_512 void add_noise_to_bytes(const uint8_t* __restrict v, float sd, float* __restrict z, int n) {
  for (int j = 0; j < n; ++j) z[j] = (float)v[j] / 255.0f + sd * z[j];
}

void noise_rows(const U8Layout& L, const uint8_t* in, uint8_t* out, const DxRegion& g, int ya, int yb,
                std::vector<float>& zbuf, std::vector<uint8_t>& bbuf) {
  const int len = g.x1 - g.x0, C = L.C, s = L.step();
  const int64_t plane = (int64_t)L.H * L.W;
  const uint32_t p1 = dx_bits_prefix(g.seed, 0u), p2 = dx_bits_prefix(g.seed, 1u);
  zbuf.resize(len), bbuf.resize(2 * (size_t)C * len);
  uint8_t* vin = bbuf.data();            // C planes of the box row's bytes
  uint8_t* vout = vin + (size_t)C * len;  // and of the results
  const bool planes = L.px == 1;  // else interleaved RGB (the op takes 1 or 3 channels): split, then joined back
  for (int y = ya; y < yb; ++y) {
    const int64_t o = y * L.row + (int64_t)g.x0 * s;
    if (!planes) split_rgb(in + o, len, vin, vin + len, vin + 2 * len);
    for (int c = 0; c < C; ++c) {
      fill_normal_row(zbuf.data(), p1, p2, c * plane + (int64_t)y * L.W + g.x0, len);  // index < 2^32: high word 0
      add_noise_to_bytes(planes ? in + o + c * L.ch : vin + c * len, g.noise.stdv, zbuf.data(), len);
      float_to_bytes(zbuf.data(), len, planes ? out + o + c * L.ch : vout + c * len);
    }
    if (!planes) join_rgb(vout, vout + len, vout + 2 * len, len, out + o);
  }
}

// ---- float -> bytes (float_to_bytes's vectors) --------------------------------------------------------------
#if defined(__GNUC__) && defined(__x86_64__)
// dst[0..31] = float_to_u8 of the 4 x 8 values v (clamped, scaled, rounded half to even, packed in order).
__attribute__((target("avx2"))) inline void store_u8x32(const __m256* v, uint8_t* dst) {
  const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f), k255 = _mm256_set1_ps(255.0f);
  __m256i q[4];
  for (int i = 0; i < 4; ++i) {
    const __m256 c = _mm256_mul_ps(_mm256_min_ps(_mm256_max_ps(v[i], zero), one), k255);
    q[i] = _mm256_cvtps_epi32(_mm256_round_ps(c, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  const __m256i bytes = _mm256_packus_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
  _mm256_storeu_si256((__m256i*)dst, _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

// The whole vectors of float_to_bytes; returns how many values it wrote.
__attribute__((target("avx2"))) int64_t float_to_bytes_avx2(const float* q, int64_t n, uint8_t* dst) {
  int64_t j = 0;
  for (; j + 32 <= n; j += 32) {
    const __m256 v[4] = {_mm256_loadu_ps(q + j), _mm256_loadu_ps(q + j + 8), _mm256_loadu_ps(q + j + 16),
                         _mm256_loadu_ps(q + j + 24)};
    store_u8x32(v, dst + j);
  }
  return j;
}
#else
int64_t float_to_bytes_avx2(const float*, int64_t, uint8_t*) { return 0; }
#endif

// ---- lowpass: the float op's cells (anti-aliased downscale) and bilinear upsampling -------------------------------
// The cells are dx_lowpass_cell's weighted sums in another order and in fixed point: first down the rows, Q15 taps
// of the Q7 rows (column_sum: each image row added into the cell rows that read it) giving each cell row's column
// sums for every value of a line; then along x in float, a dot product of the cell's taps with the line reflected past its edges. The upsampling is
// dx_lowpass's expression: each cell row interpolated along x (float, stored as Q7), then per output row a two-tap
// Q15 filter of two such rows and the Q7 rounding. The fixed-point steps stay below 0.35 of a grey level in the worst
// case (38 taps of +-1/256 and the Q15 weights' rounding), so the result is within 1 level of the float op.

// Weights of the 2r + 2 taps of one cell along an axis (= dx_lowpass_cell): w[t] = (1 - f) g[t + 1] + f g[t].
void cell_taps(int i, int n_in, int n_out, int r, const float* gpad, int& first, std::vector<double>& w) {
  const double c = ((double)i + 0.5) * ((double)n_in / (double)n_out) - 0.5, f0 = std::floor(c), f = c - f0;
  first = (int)f0 - r;
  w.resize(2 * r + 2);
  for (int t = 0; t < 2 * r + 2; ++t) w[t] = (1.0 - f) * (double)gpad[t + 1] + f * (double)gpad[t];
}

// sums[c] = the sum of the 24 lanes l with l % s == c (s = 1 or 3).
inline void lanes_to_channels(const float* acc, int s, float* sums) {
  for (int c = 0; c < s; ++c) {
    float t = 0.0f;
    for (int l = c; l < 24; l += s) t += acc[l];
    sums[c] = t;
  }
}

// Per channel c < s: sum over k < n (a multiple of 24) of w[k] v[k] where k % s == c, in 24 lanes.
void dot24_scalar(const float* w, const float* v, int n, int s, float* sums) {
  float acc[24] = {};
  for (int k = 0; k < n; k += 24)
    for (int l = 0; l < 24; ++l) acc[l] += w[k + l] * v[k + l];
  lanes_to_channels(acc, s, sums);
}

#if defined(__GNUC__) && defined(__x86_64__)
__attribute__((target("avx2"))) void dot24_avx2(const float* w, const float* v, int n, int s, float* sums) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0;
  for (int k = 0; k < n; k += 24) {
    a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_loadu_ps(w + k), _mm256_loadu_ps(v + k)));
    a1 = _mm256_add_ps(a1, _mm256_mul_ps(_mm256_loadu_ps(w + k + 8), _mm256_loadu_ps(v + k + 8)));
    a2 = _mm256_add_ps(a2, _mm256_mul_ps(_mm256_loadu_ps(w + k + 16), _mm256_loadu_ps(v + k + 16)));
  }
  alignas(32) float acc[24];
  _mm256_store_ps(acc, a0), _mm256_store_ps(acc + 8, a1), _mm256_store_ps(acc + 16, a2);
  lanes_to_channels(acc, s, sums);
}
#else
void dot24_avx2(const float*, const float*, int, int, float*) {}
#endif

void dot24(const float* w, const float* v, int n, int s, float* sums) {
  if (kHasAvx2) return dot24_avx2(w, v, n, s, sums);
  dot24_scalar(w, v, n, s, sums);
}

// u[k] = Q7 of (1 - f[k]) row[i0[k]] + f[k] row[i1[k]], clamped to [0, 255], k < n.
void lerp_gather_q7_scalar(const float* row, const int* i0, const int* i1, const float* f, int k, int n, int16_t* u) {
  for (; k < n; ++k) {
    const float v = (1.0f - f[k]) * row[i0[k]] + f[k] * row[i1[k]];
    u[k] = (int16_t)(int)(std::min(std::max(v, 0.0f), 255.0f) * 128.0f + 0.5f);
  }
}

#if defined(__GNUC__) && defined(__x86_64__)
__attribute__((target("avx2"))) void lerp_gather_q7_avx2(const float* row, const int* i0, const int* i1, const float* f,
                                                          int n, int16_t* u) {
  const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps(), top = _mm256_set1_ps(255.0f),
               q7 = _mm256_set1_ps(128.0f), half = _mm256_set1_ps(0.5f);
  int k = 0;
  for (; k + 16 <= n; k += 16) {
    __m256i q[2];
    for (int h = 0; h < 2; ++h) {
      const __m256 fk = _mm256_loadu_ps(f + k + 8 * h);
      const __m256 a = _mm256_i32gather_ps(row, _mm256_loadu_si256((const __m256i*)(i0 + k + 8 * h)), 4);
      const __m256 b = _mm256_i32gather_ps(row, _mm256_loadu_si256((const __m256i*)(i1 + k + 8 * h)), 4);
      const __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(one, fk), a), _mm256_mul_ps(fk, b));
      q[h] = _mm256_cvttps_epi32(_mm256_add_ps(_mm256_mul_ps(_mm256_min_ps(_mm256_max_ps(v, zero), top), q7), half));
    }
    _mm256_storeu_si256((__m256i*)(u + k), _mm256_permute4x64_epi64(_mm256_packs_epi32(q[0], q[1]), 0xD8));
  }
  lerp_gather_q7_scalar(row, i0, i1, f, k, n, u);
}
#else
void lerp_gather_q7_avx2(const float*, const int*, const int*, const float*, int, int16_t*) {}
#endif

// The upsampling's sources, per 16 values k: the first one (base = min i0) and the sources' offsets from it when they
// all lie in base .. base + 31 (upsampling: 16 values span a few cells), so that two loads and two permutes
// (AVX-512 vpermt2ps) replace two gathers; spans > 31 go through the gathers.
struct LerpPlan {
  std::vector<int> base;              // per block of 16 values; -1: gather
  std::vector<int32_t> off0, off1;    // i0 - base, i1 - base
};

LerpPlan lerp_plan(const int* i0, const int* i1, int n) {
  LerpPlan p;
  p.off0.assign(i0, i0 + n), p.off1.assign(i1, i1 + n);
  for (int k = 0; k + 16 <= n; k += 16) {
    int lo = i0[k], hi = i1[k];
    for (int q = k; q < k + 16; ++q) lo = std::min({lo, i0[q], i1[q]}), hi = std::max({hi, i0[q], i1[q]});
    p.base.push_back(hi - lo < 32 ? lo : -1);
    for (int q = k; q < k + 16; ++q)
      if (hi - lo < 32) p.off0[q] -= lo, p.off1[q] -= lo;
  }
  return p;
}

#if defined(__GNUC__) && defined(__x86_64__)
// row: readable up to 32 values past any source (the cells' buffer is padded).
__attribute__((target("avx512f,avx512bw,avx2"))) void lerp_permute_q7_avx512(const float* row, const int* i0, const int* i1,
                                                                              const float* f, const LerpPlan& p, int n,
                                                                              int16_t* u) {
  const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps(), top = _mm512_set1_ps(255.0f), q7 = _mm512_set1_ps(128.0f),
               half = _mm512_set1_ps(0.5f);
  int k = 0;
  for (; k + 16 <= n; k += 16) {
    const int base = p.base[k / 16];
    if (base < 0) {
      lerp_gather_q7_avx2(row, i0 + k, i1 + k, f + k, 16, u + k);
      continue;
    }
    const __m512 lo = _mm512_loadu_ps(row + base), hi = _mm512_loadu_ps(row + base + 16);
    const __m512 a = _mm512_permutex2var_ps(lo, _mm512_loadu_si512(p.off0.data() + k), hi);
    const __m512 b = _mm512_permutex2var_ps(lo, _mm512_loadu_si512(p.off1.data() + k), hi);
    const __m512 fk = _mm512_loadu_ps(f + k);
    const __m512 v = _mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(one, fk), a), _mm512_mul_ps(fk, b));
    const __m512i q = _mm512_cvttps_epi32(_mm512_add_ps(_mm512_mul_ps(_mm512_min_ps(_mm512_max_ps(v, zero), top), q7), half));
    _mm256_storeu_si256((__m256i*)(u + k), _mm512_cvtepi32_epi16(q));  // 0 .. 32640: no saturation needed
  }
  lerp_gather_q7_scalar(row, i0, i1, f, k, n, u);
}
#else
void lerp_permute_q7_avx512(const float*, const int*, const int*, const float*, const LerpPlan&, int, int16_t*) {}
#endif

void lerp_gather_q7(const float* row, const int* i0, const int* i1, const float* f, const LerpPlan& p, int n, int16_t* u) {
  if (kHasAvx512) return lerp_permute_q7_avx512(row, i0, i1, f, p, n, u);
  if (kHasAvx2) return lerp_gather_q7_avx2(row, i0, i1, f, n, u);
  lerp_gather_q7_scalar(row, i0, i1, f, 0, n, u);
}

// dst[k] = the Q7 rounding of mulhrs(a[k], wa) + mulhrs(b[k], wb), k < n: the two-tap fir_q15 and round_q7 in one pass.
void lerp2_q7_scalar(const int16_t* a, int16_t wa, const int16_t* b, int16_t wb, int k, int n, uint8_t* dst) {
  for (; k < n; ++k) dst[k] = (uint8_t)std::clamp(((int16_t)(mulhrs(a[k], wa) + mulhrs(b[k], wb)) + 64) >> 7, 0, 255);
}

#if defined(__GNUC__) && defined(__x86_64__)
__attribute__((target("avx2"))) void lerp2_q7_avx2(const int16_t* a, int16_t wa, const int16_t* b, int16_t wb, int n,
                                                    uint8_t* dst) {
  const __m256i va = _mm256_set1_epi16(wa), vb = _mm256_set1_epi16(wb), half = _mm256_set1_epi16(64);
  int k = 0;
  for (; k + 32 <= n; k += 32) {
    __m256i r[2];
    for (int h = 0; h < 2; ++h) {
      const __m256i x = _mm256_add_epi16(_mm256_mulhrs_epi16(_mm256_loadu_si256((const __m256i*)(a + k + 16 * h)), va),
                                         _mm256_mulhrs_epi16(_mm256_loadu_si256((const __m256i*)(b + k + 16 * h)), vb));
      r[h] = _mm256_srai_epi16(_mm256_adds_epi16(x, half), 7);
    }
    _mm256_storeu_si256((__m256i*)(dst + k), _mm256_permute4x64_epi64(_mm256_packus_epi16(r[0], r[1]), 0xD8));
  }
  lerp2_q7_scalar(a, wa, b, wb, k, n, dst);
}

// AVX-512BW: 32 values a step; the clamp to 0..255 as max(x, 0) then vpmovuswb's unsigned saturation.
__attribute__((target("avx512f,avx512bw,avx2"))) void lerp2_q7_avx512(const int16_t* a, int16_t wa, const int16_t* b, int16_t wb,
                                                                       int n, uint8_t* dst) {
  const __m512i va = _mm512_set1_epi16(wa), vb = _mm512_set1_epi16(wb), half = _mm512_set1_epi16(64), zero = _mm512_setzero_si512();
  int k = 0;
  for (; k + 32 <= n; k += 32) {
    const __m512i x = _mm512_add_epi16(_mm512_mulhrs_epi16(_mm512_loadu_si512(a + k), va), _mm512_mulhrs_epi16(_mm512_loadu_si512(b + k), vb));
    _mm256_storeu_si256((__m256i*)(dst + k), _mm512_cvtusepi16_epi8(_mm512_max_epi16(_mm512_srai_epi16(_mm512_adds_epi16(x, half), 7), zero)));
  }
  lerp2_q7_avx2(a + k, wa, b + k, wb, n - k, dst + k);
}
#else
void lerp2_q7_avx2(const int16_t*, int16_t, const int16_t*, int16_t, int, uint8_t*) {}
void lerp2_q7_avx512(const int16_t*, int16_t, const int16_t*, int16_t, int, uint8_t*) {}
#endif

void lerp2_q7(const int16_t* a, int16_t wa, const int16_t* b, int16_t wb, int n, uint8_t* dst) {
  if (kHasAvx512) return lerp2_q7_avx512(a, wa, b, wb, n, dst);
  if (kHasAvx2) return lerp2_q7_avx2(a, wa, b, wb, n, dst);
  lerp2_q7_scalar(a, wa, b, wb, 0, n, dst);
}

// The cells' column sums row by row: each image row adds mulhrs(row << 7, w) into the sums of every cell row that
// reads it ((cell row, weight) pairs of that row, zero weights dropped), one pass along the row per pair. The int16
// sums wrap, so the order of the terms does not matter: the same bits as fir_q15 over each cell row's window of rows.
// Measured on 300 x 300 RGB (38 taps a cell row): sum rows on 64-byte boundaries and a prefetch of the row two below
// take the pass from ~60 to ~25 us an image (unaligned 64-byte stores split cache lines).
struct TapOf {
  int cell;
  int16_t w;
};

void column_sum_scalar(const uint8_t* row, int16_t w, int j, int n, int16_t* acc) {
  for (; j < n; ++j) acc[j] = (int16_t)(acc[j] + mulhrs((int16_t)(row[j] << 7), w));
}

#if defined(__GNUC__) && defined(__x86_64__)
__attribute__((target("avx2"))) int column_sum_avx2(const uint8_t* row, int16_t w, int n, int16_t* acc) {
  const __m256i vw = _mm256_set1_epi16(w);
  int j = 0;
  for (; j + 16 <= n; j += 16) {
    const __m256i v = _mm256_slli_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i*)(row + j))), 7);
    _mm256_storeu_si256((__m256i*)(acc + j), _mm256_add_epi16(_mm256_loadu_si256((const __m256i*)(acc + j)), _mm256_mulhrs_epi16(v, vw)));
  }
  return j;
}

__attribute__((target("avx512f,avx512bw,avx2"))) int column_sum_avx512(const uint8_t* row, int16_t w, int n, int16_t* acc,
                                                                         const uint8_t* ahead) {
  const __m512i vw = _mm512_set1_epi16(w);
  int j = 0;
  for (; j + 32 <= n; j += 32) {
    _mm_prefetch((const char*)(ahead + j), _MM_HINT_T0);  // a hint: never faults
    const __m512i v = _mm512_slli_epi16(_mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i*)(row + j))), 7);
    _mm512_storeu_si512(acc + j, _mm512_add_epi16(_mm512_loadu_si512(acc + j), _mm512_mulhrs_epi16(v, vw)));
  }
  return j + column_sum_avx2(row + j, w, n - j, acc + j);
}
#else
int column_sum_avx2(const uint8_t*, int16_t, int, int16_t*) { return 0; }
int column_sum_avx512(const uint8_t*, int16_t, int, int16_t*, const uint8_t*) { return 0; }
#endif

// acc[j] += mulhrs(row[j] << 7, w), j < n; `ahead`: the row to prefetch.
void column_sum(const uint8_t* row, int16_t w, int n, int16_t* acc, const uint8_t* ahead) {
  const int j = kHasAvx512 ? column_sum_avx512(row, w, n, acc, ahead) : kHasAvx2 ? column_sum_avx2(row, w, n, acc) : 0;
  column_sum_scalar(row, w, j, n, acc);
}

// q[k] = v[k] / 128 (Q7 -> float), k < n.
DX_CLONES_512 void q7_to_float(const int16_t* __restrict v, int n, float* __restrict q) {
  for (int k = 0; k < n; ++k) q[k] = (float)v[k] * (1.0f / 128.0f);
}

// Everything of a lowpass region that does not depend on its pixels: the cells' taps along y (per image row, the
// cell rows reading it) and along x, the upsampling's sources and weights. A batch at one level repeats the same
// geometry image after image, so each thread keeps the last one it built (~10-25 % of a 300 x 300 image's time).
struct LowpassGeometry {
  std::vector<float> key;                 // what it was built from (sizes, box, cells, scales, filter weights)
  int s = 0, nx = 0, nw = 0, pad = 0, line_pad = 0, n = 0, nr = 0;
  std::vector<TapOf> taps;                // per image row y: taps[first[y] .. first[y + 1])
  std::vector<int> first;
  std::vector<int> xfirst, refl;          // per cell column: first tap; the pad pixels' sources
  std::vector<float> xw;                  // per cell column: its taps' weights per value of a pixel, zeros after
  std::vector<int> i0s, i1s;              // upsampling along x: per value of the box row, its two cell values
  std::vector<float> fs;
  LerpPlan plan;
  struct OutRow {
    int i0, i1;
    int16_t wa, wb;
  };
  std::vector<OutRow> rows;               // upsampling along y: per box row, its two cell rows and Q15 weights
};

std::vector<float> lowpass_key(const U8Layout& L, const DxRegion& g, const float* scratch) {
  const DxLowpassArgs& a = g.lowpass;
  std::vector<float> k = {(float)L.H, (float)L.W, (float)L.step(), (float)g.x0, (float)g.x1, (float)g.y0, (float)g.y1,
                          (float)a.rx, (float)a.ry, (float)a.h, (float)a.w, (float)g.sx0, (float)g.sy0, (float)g.sw,
                          (float)g.sh, a.sx, a.sy};
  k.insert(k.end(), scratch + a.gx, scratch + a.gx + 2 * a.rx + 3);
  k.insert(k.end(), scratch + a.gy, scratch + a.gy + 2 * a.ry + 3);
  return k;
}

const LowpassGeometry& lowpass_geometry(const U8Layout& L, const DxRegion& g, const float* scratch) {
  thread_local LowpassGeometry G;
  std::vector<float> key = lowpass_key(L, g, scratch);
  if (key.size() == G.key.size() && std::memcmp(key.data(), G.key.data(), key.size() * sizeof(float)) == 0) return G;
  G = LowpassGeometry();
  G.key = std::move(key);
  const int H = L.H, W = L.W, s = L.step();
  const int ry = g.lowpass.ry, rx = g.lowpass.rx, h = g.lowpass.h, w = g.lowpass.w, ny = 2 * ry + 2;
  G.s = s, G.nx = 2 * rx + 2, G.nw = (G.nx * s + 23) / 24 * 24;  // x taps' values in whole lanes
  G.pad = rx + 2, G.line_pad = (W + 2 * G.pad) * s + G.nw;        // the line reflected: pixel x at x + pad
  std::vector<double> wts;
  G.xfirst.resize((size_t)g.sw), G.refl.resize((size_t)2 * G.pad), G.xw.assign((size_t)g.sw * G.nw, 0.0f);
  for (int t = 0; t < G.pad; ++t) G.refl[t] = dx_reflect(t - G.pad, W) * s, G.refl[G.pad + t] = dx_reflect(W + t, W) * s;
  for (int jj = 0; jj < g.sw; ++jj) {
    cell_taps(g.sx0 + jj, W, w, rx, scratch + g.lowpass.gx, G.xfirst[jj], wts);
    for (int b = 0; b < G.nx; ++b)
      for (int c = 0; c < s; ++c) G.xw[(size_t)jj * G.nw + b * s + c] = (float)wts[b];
  }
  std::vector<int> y0s((size_t)g.sh);
  std::vector<int16_t> wqs;
  G.first.assign((size_t)H + 1, 0);
  for (int ii = 0; ii < g.sh; ++ii) {
    cell_taps(g.sy0 + ii, H, h, ry, scratch + g.lowpass.gy, y0s[ii], wts);
    const std::vector<int16_t> wq = to_q15(wts);
    wqs.insert(wqs.end(), wq.begin(), wq.end());
    for (int a = 0; a < ny; ++a)
      if (wq[a] != 0) ++G.first[(size_t)dx_reflect(y0s[ii] + a, H) + 1];
  }
  for (int y = 0; y < H; ++y) G.first[y + 1] += G.first[y];
  G.taps.resize((size_t)G.first[H]);
  std::vector<int> fill(G.first.begin(), G.first.end() - 1);
  for (int ii = 0; ii < g.sh; ++ii)
    for (int a = 0; a < ny; ++a)
      if (wqs[(size_t)ii * ny + a] != 0) G.taps[(size_t)fill[dx_reflect(y0s[ii] + a, H)]++] = TapOf{ii, wqs[(size_t)ii * ny + a]};
  G.n = (g.x1 - g.x0) * s, G.nr = (G.n + 15) & ~15;
  G.i0s.resize((size_t)G.n), G.i1s.resize((size_t)G.n), G.fs.resize((size_t)G.n);
  for (int x = g.x0; x < g.x1; ++x) {
    int j0, j1;
    float fx;
    dx_linear_src(x, g.lowpass.sx, w, j0, j1, fx);
    for (int c = 0; c < s; ++c) {
      const int k = (x - g.x0) * s + c;
      G.i0s[k] = (j0 - g.sx0) * s + c, G.i1s[k] = (j1 - g.sx0) * s + c, G.fs[k] = fx;
    }
  }
  G.plan = lerp_plan(G.i0s.data(), G.i1s.data(), G.n);
  for (int y = g.y0; y < g.y1; ++y) {
    int i0, i1;
    float fy;
    dx_linear_src(y, g.lowpass.sy, h, i0, i1, fy);
    const int16_t wb = (int16_t)std::lround((double)fy * 32768.0), wa = (int16_t)std::min(32767, 32768 - wb);
    G.rows.push_back(LowpassGeometry::OutRow{i0 - g.sy0, i1 - g.sy0, wa, wb});
  }
  return G;
}

void lowpass_region(const U8Layout& L, const uint8_t* in, uint8_t* out, const DxRegion& g, const float* scratch) {
  const LowpassGeometry& G = lowpass_geometry(L, g, scratch);
  const int H = L.H, W = L.W, s = G.s, lines = L.lines(), vals = W * s, pad = G.pad;  // vals: values of one line
  const int cstride = (vals + 31) & ~31;  // the column sums' rows on 64-byte boundaries
  std::vector<int16_t> colq_mem((size_t)g.sh * cstride + 32);
  int16_t* colq = colq_mem.data() + ((64 - (uintptr_t)colq_mem.data() % 64) % 64) / 2;
  std::vector<float> line((size_t)G.line_pad, 0.0f);
  // [line][cell row][cell column][channel], 0..255; 32 values of padding for the upsampling's vector loads
  std::vector<float> cells((size_t)lines * g.sh * g.sw * s + 32, 0.0f);
  for (int l = 0; l < lines; ++l) {
    std::fill(colq, colq + (size_t)g.sh * cstride, (int16_t)0);
    for (int y = 0; y < H; ++y) {
      const uint8_t* row = in + (int64_t)y * L.row + L.line_off(l);
      for (int t = G.first[y]; t < G.first[y + 1]; ++t)
        column_sum(row, G.taps[t].w, vals, colq + (size_t)G.taps[t].cell * cstride, row + 2 * L.row);
    }
    for (int ii = 0; ii < g.sh; ++ii) {
      q7_to_float(colq + (size_t)ii * cstride, vals, line.data() + (size_t)pad * s);
      for (int t = 0; t < pad; ++t)
        for (int c = 0; c < s; ++c)
          line[(size_t)t * s + c] = line[(size_t)(pad * s + G.refl[t] + c)],
          line[(size_t)(W + pad + t) * s + c] = line[(size_t)(pad * s + G.refl[pad + t] + c)];
      float* cr = cells.data() + ((size_t)l * g.sh + ii) * g.sw * s;
      for (int jj = 0; jj < g.sw; ++jj)
        dot24(G.xw.data() + (size_t)jj * G.nw, line.data() + (size_t)(G.xfirst[jj] + pad) * s, G.nw, s, cr + jj * s);
    }
  }
  // each cell row interpolated along x over the box's values (Q7), then per output row a lerp of two of them
  const int n = G.n, nr = G.nr;
  std::vector<int16_t> U((size_t)lines * g.sh * nr, 0);
  for (int r = 0; r < lines * g.sh; ++r)
    lerp_gather_q7(cells.data() + (size_t)r * g.sw * s, G.i0s.data(), G.i1s.data(), G.fs.data(), G.plan, n, U.data() + (size_t)r * nr);
  for (int y = g.y0; y < g.y1; ++y) {
    const LowpassGeometry::OutRow& o = G.rows[(size_t)(y - g.y0)];
    for (int l = 0; l < lines; ++l)
      lerp2_q7(U.data() + ((size_t)l * g.sh + o.i0) * nr, o.wa, U.data() + ((size_t)l * g.sh + o.i1) * nr, o.wb, n,
               out + y * L.row + L.line_off(l) + (int64_t)g.x0 * s);
  }
}

bool has_u8_body(int code) {
  return code == DX_NONE || code == DX_QUANTIZATION || code == DX_CONTRAST || code == DX_GAUSSIAN_BLUR || code == DX_LOWPASS ||
         code == DX_MOTION_BLUR || code == DX_GAUSSIAN_NOISE || code == DX_GAUSSIAN_NOISE_SIGMA;
}

// Byte sums: one row of a plane, and the three channel sums of an interleaved RGB row. AVX2: psadbw adds 8 bytes
// into a 64-bit lane; for RGB, 96-byte periods (three vectors) with a byte mask per channel and vector.
void sum_bytes_scalar(const uint8_t* p, int64_t j, int64_t n, uint64_t* sum, int stride3) {
  if (!stride3) {
    for (; j < n; ++j) sum[0] += p[j];
    return;
  }
  for (int c = (int)(j % 3); j < n; ++j, c = c == 2 ? 0 : c + 1) sum[c] += p[j];
}

#if defined(__GNUC__) && defined(__x86_64__)
__attribute__((target("avx2"))) inline uint64_t hsum64(__m256i v) {
  return (uint64_t)_mm256_extract_epi64(v, 0) + (uint64_t)_mm256_extract_epi64(v, 1) + (uint64_t)_mm256_extract_epi64(v, 2) +
         (uint64_t)_mm256_extract_epi64(v, 3);
}

__attribute__((target("avx2"))) void sum_bytes_avx2(const uint8_t* p, int64_t n, uint64_t* sum, bool rgb) {
  const __m256i zero = _mm256_setzero_si256();
  int64_t j = 0;
  if (!rgb) {
    __m256i acc = zero;
    for (; j + 32 <= n; j += 32) acc = _mm256_add_epi64(acc, _mm256_sad_epu8(_mm256_loadu_si256((const __m256i*)(p + j)), zero));
    sum[0] += hsum64(acc);
    return sum_bytes_scalar(p, j, n, sum, 0);
  }
  struct Masks {
    alignas(32) uint8_t m[3][3][32];  // [vector i of the period][channel c][byte q]
    Masks() {
      for (int i = 0; i < 3; ++i)
        for (int c = 0; c < 3; ++c)
          for (int q = 0; q < 32; ++q) m[i][c][q] = (32 * i + q) % 3 == c ? 0xFF : 0;
    }
  };
  static const Masks masks_once;
  const auto& masks = masks_once.m;
  __m256i acc[3] = {zero, zero, zero};
  for (; j + 96 <= n; j += 96)
    for (int i = 0; i < 3; ++i) {
      const __m256i v = _mm256_loadu_si256((const __m256i*)(p + j + 32 * i));
      for (int c = 0; c < 3; ++c)
        acc[c] = _mm256_add_epi64(acc[c], _mm256_sad_epu8(_mm256_and_si256(v, _mm256_load_si256((const __m256i*)masks[i][c])), zero));
    }
  for (int c = 0; c < 3; ++c) sum[c] += hsum64(acc[c]);
  sum_bytes_scalar(p, j, n, sum, 1);  // j is a multiple of 3
}

// AVX-512 VNNI: a plane by psadbw on 64 bytes; interleaved RGB in 192-byte periods (three vectors; byte q of vector i
// is channel (i + q) % 3): red and green by vpdpbusd with 0/1 byte weights into 32-bit lanes (<= 4 x 255 a step, no
// overflow: see the blocks), blue = all (psadbw) - red - green. 4 instructions a vector instead of 9.
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void sum_bytes_vnni(const uint8_t* p, int64_t n, uint64_t* sum, bool rgb) {
  const __m512i zero = _mm512_setzero_si512();
  int64_t j = 0;
  if (!rgb) {
    __m512i acc = zero;
    for (; j + 64 <= n; j += 64) acc = _mm512_add_epi64(acc, _mm512_sad_epu8(_mm512_loadu_si512(p + j), zero));
    sum[0] += (uint64_t)_mm512_reduce_add_epi64(acc);
    return sum_bytes_scalar(p, j, n, sum, 0);
  }
  struct Weights {
    alignas(64) int8_t w[3][2][64];  // [vector i of the period][red, green][byte q]
    Weights() {
      for (int i = 0; i < 3; ++i)
        for (int c = 0; c < 2; ++c)
          for (int q = 0; q < 64; ++q) w[i][c][q] = (i + q) % 3 == c ? 1 : 0;
    }
  };
  static const Weights weights_once;
  const auto& w = weights_once.w;
  while (j + 192 <= n) {  // blocks of <= 2^16 periods: a 32-bit lane then holds <= 2^16 x 3 x 510, 16 lanes < 2^32
    const int64_t end = j + std::min<int64_t>((n - j) / 192, int64_t(1) << 16) * 192;
    __m512i all = zero, red = zero, green = zero;
    for (; j < end; j += 192)
      for (int i = 0; i < 3; ++i) {
        const __m512i v = _mm512_loadu_si512(p + j + 64 * i);
        all = _mm512_add_epi64(all, _mm512_sad_epu8(v, zero));
        red = _mm512_dpbusd_epi32(red, v, _mm512_load_si512(w[i][0]));
        green = _mm512_dpbusd_epi32(green, v, _mm512_load_si512(w[i][1]));
      }
    const uint64_t r = (uint32_t)_mm512_reduce_add_epi32(red), g = (uint32_t)_mm512_reduce_add_epi32(green);
    sum[0] += r, sum[1] += g, sum[2] += (uint64_t)_mm512_reduce_add_epi64(all) - r - g;
  }
  sum_bytes_scalar(p, j, n, sum, 1);  // j is a multiple of 3
}
const bool kHasVnni = simd_allowed() && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw");
#else
const bool kHasVnni = false;
void sum_bytes_avx2(const uint8_t*, int64_t, uint64_t*, bool) {}
void sum_bytes_vnni(const uint8_t*, int64_t, uint64_t*, bool) {}
#endif

// sum[0] += the n bytes at p, or (rgb) sum[c] += the bytes of channel c of an interleaved row of n / 3 pixels.
void sum_bytes(const uint8_t* p, int64_t n, uint64_t* sum, bool rgb) {
  if (kHasVnni) return sum_bytes_vnni(p, n, sum, rgb);
  if (kHasAvx2) return sum_bytes_avx2(p, n, sum, rgb);
  sum_bytes_scalar(p, 0, n, sum, rgb);
}

// The mean luminance hook of the planner: 0.299 R + 0.587 G + 0.114 B over images / 255 from exact integer sums of
// each channel (cpu_mean_luma sums the per-pixel float luminances: the two differ by float rounding, ~1e-7).
void u8_mean_luma(const at::Tensor& images, const std::vector<int64_t>& which, float* out) {
  const U8Layout L = layout_of(images);
  const uint8_t* in = images.data_ptr<uint8_t>();
  const double w3[3] = {0.299, 0.587, 0.114};
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t k = 0; k < (int64_t)which.size(); ++k) {
    const uint8_t* p = in + which[k] * L.image;
    uint64_t sums[3] = {0, 0, 0};
    if (L.row == (int64_t)L.W * L.step()) {  // rows back to back: one span per channel plane or image
      for (int l = 0; l < L.lines(); ++l) sum_bytes(p + L.line_off(l), L.row * L.H, sums + l, L.px != 1);
    } else for (int y = 0; y < L.H; ++y) {
      const uint8_t* row = p + y * L.row;
      if (L.px == 1) {
        for (int c = 0; c < L.C; ++c) sum_bytes(row + c * L.ch, L.W, sums + c, false);
      } else {
        sum_bytes(row, 3 * (int64_t)L.W, sums, true);
      }
    }
    const double total = L.C == 3 ? w3[0] * (double)sums[0] + w3[1] * (double)sums[1] + w3[2] * (double)sums[2] : (double)sums[0];
    out[k] = (float)(total / 255.0 / ((double)L.H * L.W));
  }
}

void no_fill_normal(at::Tensor, const at::Tensor&, uint32_t) { TORCH_CHECK(false, "distortx.distort (uint8): no noise pre-pass"); }

// Interleaved RGB bytes <-> three planes: 16 pixels (48 bytes) per step, each output vector the OR of three byte
// shuffles (pshufb; masks built once); scalar tails.
struct Rgb3Masks {
  alignas(16) uint8_t split[3][3][16];  // [channel][input vector][lane]: plane lane i <- byte 3 i + c of the chunk
  alignas(16) uint8_t join[3][3][16];   // [output vector][channel][lane]: chunk byte 16 v + j <- plane lane (16 v + j) / 3
  Rgb3Masks() {
    std::memset(split, 0x80, sizeof(split)), std::memset(join, 0x80, sizeof(join));
    for (int c = 0; c < 3; ++c)
      for (int i = 0; i < 16; ++i) split[c][(3 * i + c) / 16][i] = (uint8_t)((3 * i + c) % 16);
    for (int v = 0; v < 3; ++v)
      for (int j = 0; j < 16; ++j) join[v][(16 * v + j) % 3][j] = (uint8_t)((16 * v + j) / 3);
  }
};
const Rgb3Masks& rgb3_masks() {
  static const Rgb3Masks m;
  return m;
}

#if defined(__GNUC__) && defined(__x86_64__)
__attribute__((target("ssse3"))) int split_rgb_ssse3(const uint8_t* p, int W, uint8_t* r, uint8_t* g, uint8_t* b) {
  const Rgb3Masks& m = rgb3_masks();
  uint8_t* planes[3] = {r, g, b};
  int x = 0;
  for (; x + 16 <= W; x += 16) {
    const __m128i v[3] = {_mm_loadu_si128((const __m128i*)(p + 3 * x)), _mm_loadu_si128((const __m128i*)(p + 3 * x + 16)),
                          _mm_loadu_si128((const __m128i*)(p + 3 * x + 32))};
    for (int c = 0; c < 3; ++c) {
      __m128i o = _mm_shuffle_epi8(v[0], _mm_load_si128((const __m128i*)m.split[c][0]));
      o = _mm_or_si128(o, _mm_shuffle_epi8(v[1], _mm_load_si128((const __m128i*)m.split[c][1])));
      o = _mm_or_si128(o, _mm_shuffle_epi8(v[2], _mm_load_si128((const __m128i*)m.split[c][2])));
      _mm_storeu_si128((__m128i*)(planes[c] + x), o);
    }
  }
  return x;
}

__attribute__((target("ssse3"))) int join_rgb_ssse3(const uint8_t* r, const uint8_t* g, const uint8_t* b, int W, uint8_t* p) {
  const Rgb3Masks& m = rgb3_masks();
  int x = 0;
  for (; x + 16 <= W; x += 16) {
    const __m128i pl[3] = {_mm_loadu_si128((const __m128i*)(r + x)), _mm_loadu_si128((const __m128i*)(g + x)),
                           _mm_loadu_si128((const __m128i*)(b + x))};
    for (int v = 0; v < 3; ++v) {
      __m128i o = _mm_shuffle_epi8(pl[0], _mm_load_si128((const __m128i*)m.join[v][0]));
      o = _mm_or_si128(o, _mm_shuffle_epi8(pl[1], _mm_load_si128((const __m128i*)m.join[v][1])));
      o = _mm_or_si128(o, _mm_shuffle_epi8(pl[2], _mm_load_si128((const __m128i*)m.join[v][2])));
      _mm_storeu_si128((__m128i*)(p + 3 * x + 16 * v), o);
    }
  }
  return x;
}
const bool kHasSsse3 = simd_allowed() && __builtin_cpu_supports("ssse3");
#else
const bool kHasSsse3 = false;
int split_rgb_ssse3(const uint8_t*, int, uint8_t*, uint8_t*, uint8_t*) { return 0; }
int join_rgb_ssse3(const uint8_t*, const uint8_t*, const uint8_t*, int, uint8_t*) { return 0; }
#endif

void split_rgb(const uint8_t* p, int W, uint8_t* r, uint8_t* g, uint8_t* b) {
  for (int x = kHasSsse3 ? split_rgb_ssse3(p, W, r, g, b) : 0; x < W; ++x) r[x] = p[3 * x], g[x] = p[3 * x + 1], b[x] = p[3 * x + 2];
}

void join_rgb(const uint8_t* r, const uint8_t* g, const uint8_t* b, int W, uint8_t* p) {
  for (int x = kHasSsse3 ? join_rgb_ssse3(r, g, b, W, p) : 0; x < W; ++x) p[3 * x] = r[x], p[3 * x + 1] = g[x], p[3 * x + 2] = b[x];
}

// k / 255 as torch divides (a loop the compiler vectorises).
DX_CLONES_512 void bytes_to_float(const uint8_t* __restrict p, int n, float* __restrict q) {
  for (int j = 0; j < n; ++j) q[j] = (float)p[j] / 255.0f;
}

// One image row <-> C float planes (plane = the planes' distance in floats); tmp: 3 W bytes.
void row_to_float(const U8Layout& L, const uint8_t* row, float* q, int64_t plane, uint8_t* tmp) {
  if (L.px == 1) {
    for (int c = 0; c < L.C; ++c) bytes_to_float(row + c * L.ch, L.W, q + c * plane);
    return;
  }
  split_rgb(row, L.W, tmp, tmp + L.W, tmp + 2 * L.W);
  for (int c = 0; c < 3; ++c) bytes_to_float(tmp + c * L.W, L.W, q + c * plane);
}

void row_from_float(const U8Layout& L, const float* q, int64_t plane, uint8_t* row, uint8_t* tmp) {
  if (L.px == 1) {
    for (int c = 0; c < L.C; ++c) float_to_bytes(q + c * plane, L.W, row + c * L.ch);
    return;
  }
  for (int c = 0; c < 3; ++c) float_to_bytes(q + c * plane, L.W, tmp + c * L.W);
  join_rgb(tmp, tmp + L.W, tmp + 2 * L.W, L.W, row);
}

// Every other code: convert, run the float op, round back, in the images' memory format; in chunks of images of
// about 4 MB of float32 (fresh buffers of a whole batch would be page-faulted in and trimmed away on every call).
at::Tensor through_float(const at::Tensor& images, const at::Tensor& codes, const at::Tensor& values,
                         const at::Tensor& boxes, const at::Tensor& seeds) {
  const int64_t N = images.size(0), C = images.size(1), HW = images.size(2) * images.size(3);
  const U8Layout L = layout_of(images);
  const int64_t chunk = std::clamp<int64_t>((int64_t(4) << 20) / (C * HW * 4), 1, N);
  at::Tensor x = at::empty({chunk, C, images.size(2), images.size(3)}, images.options().dtype(at::kFloat));
  at::Tensor out = at::empty_like(images);
  const uint8_t* in = images.data_ptr<uint8_t>();
  uint8_t* o = out.data_ptr<uint8_t>();
  float* xf = x.data_ptr<float>();
  for (int64_t n0 = 0; n0 < N; n0 += chunk) {
    const int64_t k = std::min(chunk, N - n0);
#pragma omp parallel
    {
      std::vector<uint8_t> tmp(3 * (size_t)L.W);
#pragma omp for schedule(static)
      for (int64_t t = 0; t < k * L.H; ++t) {
        const int64_t n = t / L.H, y = t % L.H;
        row_to_float(L, in + (n0 + n) * L.image + y * L.row, xf + n * C * HW + y * L.W, HW, tmp.data());
      }
    }
    const at::Tensor y = distort_cpu(x.narrow(0, 0, k), codes.narrow(0, n0, k), values.narrow(0, n0, k),
                                     boxes.narrow(0, n0, k), seeds.narrow(0, n0, k));
    const float* yf = y.data_ptr<float>();
#pragma omp parallel
    {
      std::vector<uint8_t> tmp(3 * (size_t)L.W);
#pragma omp for schedule(static)
      for (int64_t t = 0; t < k * L.H; ++t) {
        const int64_t n = t / L.H, yy = t % L.H;
        row_from_float(L, yf + n * C * HW + yy * L.W, HW, o + (n0 + n) * L.image + yy * L.row, tmp.data());
      }
    }
  }
  return out;
}

}  // namespace

void float_to_bytes(const float* q, int64_t n, uint8_t* dst) {
  for (int64_t j = kHasAvx2 ? float_to_bytes_avx2(q, n, dst) : 0; j < n; ++j) dst[j] = float_to_u8(q[j]);
}

// The images' regions drawn into out (same sizes and strides), every code one with a uint8 body.
static void distort_u8_into(const at::Tensor& images, const at::Tensor& codes, const at::Tensor& values, const at::Tensor& boxes,
                     const at::Tensor& seeds, at::Tensor out) {
  DxPlan plan = dx_make_plan(images, codes, values, boxes, seeds, DxBackend{no_fill_normal, u8_mean_luma});
  const U8Layout L = layout_of(images);
  const int64_t N = images.size(0), R = codes.size(1);
  const uint8_t* in = images.data_ptr<uint8_t>();
  uint8_t* o = out.data_ptr<uint8_t>();
  const float* scratch = plan.scratch.data_ptr<float>();

  // per region: its table or its Q15 weights; per image: whether one box covers it (no copy needed)
  std::vector<uint8_t> luts((size_t)N * R * 256);
  std::vector<std::vector<int16_t>> weights((size_t)N * R);
  std::vector<MotionTaps> motion((size_t)N * R);
  std::vector<char> covered(N, 0);
  for (int64_t i = 0; i < N * R; ++i) {
    const DxRegion& g = plan.regs[i];
    if (g.code == DX_NONE) continue;
    if (g.x0 == 0 && g.y0 == 0 && g.x1 == L.W && g.y1 == L.H) covered[i / R] = 1;
    if (g.code == DX_GAUSSIAN_BLUR) {
      const float* w = scratch + g.blur.weights;
      weights[i] = to_q15(std::vector<double>(w, w + 2 * g.blur.radius + 1));
    }
    else if (g.code == DX_MOTION_BLUR) motion[i] = motion_taps(g);
    else if (g.code == DX_QUANTIZATION || g.code == DX_CONTRAST) region_lut(g, scratch, luts.data() + i * 256);
  }
  // work items: the image copies, then per region slot r (in order: later boxes overwrite) bands of box rows, whole
  // boxes when the images alone keep every thread busy (a blur band recomputes 2r rows)
  const int band = N >= 2 * at::get_num_threads() ? L.H : 32;
#pragma omp parallel
  {
    std::vector<int16_t> buf;
    std::vector<float> zbuf;
    std::vector<uint8_t> bbuf;
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; ++n)
      if (!covered[n]) {
        for (int y = 0; y < L.H; ++y)
          for (int l = 0; l < L.lines(); ++l) {
            const int64_t off = n * L.image + y * L.row + L.line_off(l);
            std::memcpy(o + off, in + off, (size_t)L.W * L.step());
          }
      }
    for (int64_t r = 0; r < R; ++r) {
      const int64_t bands = (L.H + band - 1) / band;
#pragma omp for schedule(dynamic, 1)
      for (int64_t t = 0; t < N * bands; ++t) {
        const int64_t n = t / bands;
        const DxRegion& g = plan.regs[n * R + r];
        const int b0 = (int)(t % bands) * band, ya = std::max<int>(g.y0, b0), yb = std::min<int>(g.y1, b0 + band);
        if (g.code == DX_NONE || ya >= yb) continue;
        const uint8_t* src = in + n * L.image;
        uint8_t* dst = o + n * L.image;
        if (g.code == DX_IDENTITY) {
          for (int y = ya; y < yb; ++y)
            for (int l = 0; l < L.lines(); ++l) {
              const int64_t off = y * L.row + L.line_off(l) + (int64_t)g.x0 * L.step();
              std::memcpy(dst + off, src + off, (size_t)(g.x1 - g.x0) * L.step());
            }
        } else if (g.code == DX_MOTION_BLUR) {
          motion_rows(L, src, dst, g, motion[n * R + r], ya, yb, buf);
        } else if (g.code == DX_LOWPASS) {  // the whole box in the band holding its first row
          if (ya == g.y0) lowpass_region(L, src, dst, g, scratch);
        } else if (g.code == DX_GAUSSIAN_BLUR) {
          blur_rows(L, src, dst, g, weights[n * R + r].data(), ya, yb, buf);
        } else if (g.code == DX_GAUSSIAN_NOISE || g.code == DX_GAUSSIAN_NOISE_SIGMA) {
          noise_rows(L, src, dst, g, ya, yb, zbuf, bbuf);
        } else {
          lut_rows(L, src, dst, g, luts.data() + (n * R + r) * 256, ya, yb);
        }
      }
    }
  }
}

at::Tensor distort_u8(const at::Tensor& images, const at::Tensor& codes_, const at::Tensor& values,
                      const at::Tensor& boxes, const at::Tensor& seeds) {
  at::Tensor out = at::empty_like(images);  // keeps the memory format
  if (images.numel() == 0) return out;
  const at::Tensor codes = codes_.to(at::kCPU).contiguous();
  const int32_t* cp = codes.data_ptr<int32_t>();
  for (int64_t i = 0; i < codes.numel(); ++i)
    if (!has_u8_body(cp[i])) return through_float(images, codes, values, boxes, seeds);
  // in chunks of about 4 MB of images: contrast's grey-level pass reads a chunk that its table pass then finds in the
  // cache (a whole batch of 64 300 x 300 images, 17 MB, would be read from memory twice: ~1.4x slower)
  const int64_t N = images.size(0), chunk = std::clamp<int64_t>((int64_t(4) << 20) / (images.numel() / N), 1, N);
  for (int64_t n0 = 0; n0 < N; n0 += chunk) {
    const int64_t k = std::min(chunk, N - n0);
    distort_u8_into(images.narrow(0, n0, k), codes.narrow(0, n0, k), values.narrow(0, n0, k), boxes.narrow(0, n0, k),
                    seeds.narrow(0, n0, k), out.narrow(0, n0, k));
  }
  return out;
}

}  // namespace cpu
}  // namespace distortx
