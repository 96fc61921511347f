// Per-box / per-pair math shared by the CPU and CUDA box kernels (batched NMS, SSD post-processing).
// Twin of distortx/ops/nms.py and distortx/ops/ssd_postprocess.py (pure-PyTorch references): the same
// operations in the same order, so CPU, CUDA and Python agree bit for bit on IoU decisions.
//
// Why the *_rn helpers: nvcc contracts a*b+c into FMA and, under --use_fast_math, replaces '/' with an
// approximate division. The __f*_rn intrinsics are never contracted or approximated, so the device computes
// exactly what the host (plain IEEE float ops, no FMA on baseline x86-64) and PyTorch compute.
// exp() is evaluated in double on every side (fast-math would turn expf into the 2-ulp __expf on device).
#pragma once
#include <stdint.h>
#include <math.h>
#include <string.h>

#ifndef DX_HD
#if defined(__CUDACC__)
#define DX_HD __host__ __device__ __forceinline__
#else
#define DX_HD inline
#endif
#endif

namespace distortx {
namespace boxes {

DX_HD float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}

DX_HD float sub_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}

DX_HD float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

DX_HD float div_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}

DX_HD float max_f(float a, float b) { return a > b ? a : b; }
DX_HD float min_f(float a, float b) { return a < b ? a : b; }

DX_HD bool finite_f(float v) {
  // v - v is 0 for finite v and NaN for +-inf / NaN; comparisons stay exact under fast-math.
  return sub_rn(v, v) == 0.0f;
}

// Area of an xyxy box: (x2 - x1) * (y2 - y1) (negative for inverted boxes, as in torchvision).
DX_HD float box_area(float x1, float y1, float x2, float y2) { return mul_rn(sub_rn(x2, x1), sub_rn(y2, y1)); }

// IoU of boxes a and b (xyxy) with precomputed areas: inter / ((area_a + area_b) - inter).
// A zero union gives 0/0 = NaN, which is never above a threshold (two empty boxes never suppress).
DX_HD float box_iou(float ax1, float ay1, float ax2, float ay2, float area_a, float bx1, float by1, float bx2,
                    float by2, float area_b) {
  const float w = max_f(sub_rn(min_f(ax2, bx2), max_f(ax1, bx1)), 0.0f);
  const float h = max_f(sub_rn(min_f(ay2, by2), max_f(ay1, by1)), 0.0f);
  const float inter = mul_rn(w, h);
  return div_rn(inter, sub_rn(add_rn(area_a, area_b), inter));
}

// Greedy NMS over boxes [a, e) of score-sorted SoA arrays (the CPU loop of batched_nms and ssd_postprocess):
// a kept box suppresses every later box with IoU > thr. Sets supp[j] = 1 for each suppressed box and calls
// keep(i) for each kept one, in order. The inner loop is branch-free so the compiler can vectorise it. Host
// only: the CUDA kernels build a bitmask in parallel and walk it (nms_kernel.cu, ssd_postprocess_kernel.cu).
template <class Keep>
inline void greedy_nms(const float* x1, const float* y1, const float* x2, const float* y2, const float* area,
                       uint8_t* supp, int64_t a, int64_t e, float thr, Keep keep) {
  for (int64_t i = a; i < e; ++i) {
    if (supp[i]) continue;
    keep(i);
    const float ix1 = x1[i], iy1 = y1[i], ix2 = x2[i], iy2 = y2[i], ia = area[i];
    for (int64_t j = i + 1; j < e; ++j)
      supp[j] |= (uint8_t)(box_iou(ix1, iy1, ix2, iy2, ia, x1[j], y1[j], x2[j], y2[j], area[j]) > thr);
  }
}

// exp(dw) is clamped at log(1000/16) (as torchvision's BoxCoder): a wild regression output would
// otherwise overflow exp() to inf and produce inf/NaN boxes; 1000/16 bounds the growth at 62.5x the prior.
// Spelled as a double literal cast to float, exactly like float32(math.log(1000/16)) in Python.
#define DX_BOX_LOG_SCALE_CLAMP ((float)4.135166556742356)

// Decodes one SSD regression `loc` (dx, dy, dw, dh) against a prior (cx, cy, w, h) into xyxy `out`:
//   cx = pcx + (dx * v0) * pw,   w = pw * exp(min(dw * v1, clamp)),   x1 = cx - 0.5 w,  x2 = cx + 0.5 w.
// A NaN stays NaN through the clamp (x > c ? c : x), so the box is later dropped as non-finite.
DX_HD void decode_box(float l0, float l1, float l2, float l3, float pcx, float pcy, float pw, float ph, float v0,
                      float v1, float* out) {
  const float cx = add_rn(pcx, mul_rn(mul_rn(l0, v0), pw));
  const float cy = add_rn(pcy, mul_rn(mul_rn(l1, v0), ph));
  float dw = mul_rn(l2, v1);
  float dh = mul_rn(l3, v1);
  dw = dw > DX_BOX_LOG_SCALE_CLAMP ? DX_BOX_LOG_SCALE_CLAMP : dw;
  dh = dh > DX_BOX_LOG_SCALE_CLAMP ? DX_BOX_LOG_SCALE_CLAMP : dh;
  const float w = mul_rn(pw, (float)exp((double)dw));
  const float h = mul_rn(ph, (float)exp((double)dh));
  const float hw = mul_rn(0.5f, w), hh = mul_rn(0.5f, h);
  out[0] = sub_rn(cx, hw);
  out[1] = sub_rn(cy, hh);
  out[2] = add_rn(cx, hw);
  out[3] = add_rn(cy, hh);
}

// Softmax of one row of K logits (stride `in_stride`) in double, written as float to out[c * out_stride].
// A row with any non-finite logit gives NaN for every class (the prior is dropped), matching the reference.
DX_HD void softmax_row(const float* x, int64_t K, int64_t in_stride, float* out, int64_t out_stride) {
  double m = -INFINITY;
  bool ok = true;
  for (int64_t c = 0; c < K; ++c) {
    const float v = x[c * in_stride];
    ok = ok && finite_f(v);
    m = (double)v > m ? (double)v : m;
  }
  if (!ok) {
    for (int64_t c = 0; c < K; ++c) out[c * out_stride] = NAN;
    return;
  }
  // exp(x - max) summed left to right; kept in a small buffer when K allows, recomputed otherwise
  double e[32];
  double sum = 0.0;
  for (int64_t c = 0; c < K; ++c) {
    const double v = exp((double)x[c * in_stride] - m);
    if (c < 32) e[c] = v;
    sum += v;
  }
  for (int64_t c = 0; c < K; ++c) {
    const double v = c < 32 ? e[c] : exp((double)x[c * in_stride] - m);
    out[c * out_stride] = (float)(v / sum);
  }
}

DX_HD uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  memcpy(&u, &f, sizeof(u));
  return u;
#endif
}

// Monotone map of a non-NaN float to uint32 (larger float -> larger key); -0.0 and +0.0 share a key.
DX_HD uint32_t score_key(float s) {
  uint32_t u = float_bits(s);
  if ((u & 0x7FFFFFFFu) == 0u) u = 0u;  // -0.0 -> +0.0
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// 64-bit candidate key: higher score first, then lower index first. Every key of a real candidate is > 0.
DX_HD uint64_t candidate_key(float s, uint32_t index) {
  return ((uint64_t)score_key(s) << 32) | (uint64_t)(0xFFFFFFFFu - index);
}

DX_HD uint32_t key_index(uint64_t key) { return 0xFFFFFFFFu - (uint32_t)(key & 0xFFFFFFFFull); }
DX_HD uint32_t key_score(uint64_t key) { return (uint32_t)(key >> 32); }

// SSD post-processing, stage 1, for prior p of image b (the same body runs in the CPU loop and the CUDA
// kernel): decodes loc[b, p] against priors[p] into boxes[b, p] (xyxy) and writes the per-class scores,
// transposed, into probT[b, c, p] (softmax of the logits when `softmax`, the raw scores otherwise).
// A prior whose decoded box has a non-finite coordinate gets NaN scores: NaN is never above the score
// threshold, so the box can never be selected.
DX_HD void ssd_prepare_one(const float* loc, const float* scores, const float* priors, int64_t b, int64_t p,
                           int64_t P, int64_t K, float v0, float v1, bool softmax, float* boxes, float* probT) {
  const int64_t bp = b * P + p;
  const float* l = loc + bp * 4;
  const float* pr = priors + p * 4;
  float* box = boxes + bp * 4;
  decode_box(l[0], l[1], l[2], l[3], pr[0], pr[1], pr[2], pr[3], v0, v1, box);
  const bool ok = finite_f(box[0]) && finite_f(box[1]) && finite_f(box[2]) && finite_f(box[3]);
  const float* row = scores + bp * K;
  float* out = probT + b * K * P + p;
  if (!ok) {
    for (int64_t c = 0; c < K; ++c) out[c * P] = NAN;
  } else if (softmax) {
    softmax_row(row, K, 1, out, P);
  } else {
    for (int64_t c = 0; c < K; ++c) out[c * P] = row[c];
  }
}

}  // namespace boxes
}  // namespace distortx
