// Raw CUDA kernels of the fused SSD post-processing (no torch headers; glue in ssd_postprocess_cuda.cpp).
// Three launches, no host synchronisation and no data-dependent allocation, so the op can be captured in a
// CUDA graph:
//   prepare: one thread per (image, prior): decode + softmax (box_math.h ssd_prepare_one, as on the CPU);
//   classes: one block per (image, class): count candidates, radix-select the T-th largest 64-bit key
//            (score, then lower prior first), compact, bitonic-sort, greedy NMS (one __syncthreads per
//            surviving candidate), write the kept keys in order;
//   merge:   one block per image: each kept detection's output rank is its position in its class list plus,
//            for every other class, the number of entries that precede it (binary search), i.e. the order
//            (score desc, class asc, prior asc); ranks < max_detections are written, the rest is padding.
#include <cuda_runtime.h>

#include "boxes/box_launch.h"
#include "boxes/box_math.h"

namespace distortx {
namespace {

using namespace boxes;
typedef unsigned long long u64;

constexpr int kPrepareThreads = 256;
constexpr int kClassThreads = 256;
constexpr int kMergeThreads = 256;
constexpr int64_t kSharedLimit = 48 * 1024;

__global__ void ssd_prepare_kernel(const float* __restrict__ loc, const float* __restrict__ scores,
                                   const float* __restrict__ priors, int64_t B, int64_t P, int64_t K, float v0,
                                   float v1, bool softmax, float* __restrict__ boxes, float* __restrict__ probT) {
  const int64_t total = B * P;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x)
    ssd_prepare_one(loc, scores, priors, i / P, i % P, P, K, v0, v1, softmax, boxes, probT);
}

// capacity (power of two >= 64) of the per-block candidate arrays for at most T candidates
__host__ __device__ inline int64_t class_cap(int64_t T) {
  int64_t cap = 64;
  while (cap < T) cap <<= 1;
  return cap;
}

// per-block layout: keys u64 [cap] | x1, y1, x2, y2, area f32 [cap] each | supp u8 [cap]
__host__ __device__ inline int64_t class_bytes(int64_t T) {
  const int64_t cap = class_cap(T);
  return cap * (8 + 5 * 4 + 1);
}

__global__ void ssd_class_kernel(const float* __restrict__ probT, const float* __restrict__ boxes, int P, int K,
                                 int bg, float sthr, float ithr, int T, u64* __restrict__ kept,
                                 int32_t* __restrict__ kept_n, uint8_t* __restrict__ workspace) {
  const int64_t g = blockIdx.x;  // (image, class) = (g / K, g % K)
  const int b = (int)(g / K), c = (int)(g % K);
  const int t = threadIdx.x, nt = blockDim.x;
  if (c == bg) {
    if (t == 0) kept_n[g] = 0;
    return;
  }
  extern __shared__ __align__(16) unsigned char smem[];
  const int64_t cap = class_cap(T);
  unsigned char* base = workspace ? workspace + g * class_bytes(T) : smem;
  u64* keys = (u64*)base;
  float* bx1 = (float*)(base + cap * 8);
  float* by1 = bx1 + cap;
  float* bx2 = by1 + cap;
  float* by2 = bx2 + cap;
  float* barea = by2 + cap;
  uint8_t* supp = (uint8_t*)(barea + cap);

  __shared__ unsigned int hist[256];
  __shared__ int s_count, s_fill;
  __shared__ u64 s_prefix;
  __shared__ unsigned int s_remaining;
  const float* s = probT + g * P;

  // 1. number of candidates (score > threshold; NaN never is)
  if (t == 0) s_count = 0, s_fill = 0;
  __syncthreads();
  int local = 0;
  for (int p = t; p < P; p += nt) local += s[p] > sthr;
  atomicAdd(&s_count, local);
  __syncthreads();
  const int count = s_count;

  // 2. the T-th largest key when there are more than T candidates: radix select, 8 bits per pass
  u64 kth = 1ull;  // every candidate key is >= 1
  if (count > T) {
    u64 prefix = 0ull, pmask = 0ull;
    unsigned int remaining = (unsigned int)T;
    for (int shift = 56; shift >= 0; shift -= 8) {
      for (int i = t; i < 256; i += nt) hist[i] = 0u;
      __syncthreads();
      for (int p = t; p < P; p += nt) {
        const float v = s[p];
        if (v > sthr) {
          const u64 key = candidate_key(v, (uint32_t)p);
          if ((key & pmask) == prefix) atomicAdd(&hist[(key >> shift) & 255ull], 1u);
        }
      }
      __syncthreads();
      if (t == 0) {
        unsigned int cum = 0u;
        for (int d = 255; d >= 0; --d) {
          if (cum + hist[d] >= remaining) {
            prefix |= (u64)d << shift;
            remaining -= cum;
            break;
          }
          cum += hist[d];
        }
        s_prefix = prefix;
        s_remaining = remaining;
      }
      __syncthreads();
      prefix = s_prefix;
      remaining = s_remaining;
      pmask |= 0xFFull << shift;
    }
    kth = prefix;  // keys are unique, so exactly T keys are >= kth
  }

  // 3. compact the selected keys (any order), pad to a power of two with 0 and sort descending (bitonic)
  for (int p = t; p < P; p += nt) {
    const float v = s[p];
    if (v > sthr) {
      const u64 key = candidate_key(v, (uint32_t)p);
      if (key >= kth) keys[atomicAdd(&s_fill, 1)] = key;
    }
  }
  __syncthreads();
  const int n = s_fill;
  int m = 1;
  while (m < n) m <<= 1;
  for (int i = n + t; i < m; i += nt) keys[i] = 0ull;
  __syncthreads();
  for (int k = 2; k <= m; k <<= 1) {
    for (int j = k >> 1; j > 0; j >>= 1) {
      for (int i = t; i < m; i += nt) {
        const int ixj = i ^ j;
        if (ixj > i) {
          const u64 a = keys[i], z = keys[ixj];
          if (((i & k) == 0) ? (a < z) : (a > z)) keys[i] = z, keys[ixj] = a;
        }
      }
      __syncthreads();
    }
  }

  // 4. gather the candidates' boxes in sorted order
  for (int i = t; i < n; i += nt) {
    const float* bb = boxes + ((int64_t)b * P + key_index(keys[i])) * 4;
    bx1[i] = bb[0], by1[i] = bb[1], bx2[i] = bb[2], by2[i] = bb[3];
    barea[i] = box_area(bb[0], bb[1], bb[2], bb[3]);
    supp[i] = 0;
  }
  __syncthreads();

  // 5. greedy NMS: supp[i] is final when row i comes up (only rows < i write it)
  for (int i = 0; i < n; ++i) {
    if (supp[i]) continue;  // uniform over the block
    const float x1 = bx1[i], y1 = by1[i], x2 = bx2[i], y2 = by2[i], a = barea[i];
    for (int j = i + 1 + t; j < n; j += nt)
      if (!supp[j] && box_iou(x1, y1, x2, y2, a, bx1[j], by1[j], bx2[j], by2[j], barea[j]) > ithr) supp[j] = 1;
    __syncthreads();
  }

  // 6. kept keys in order
  if (t == 0) {
    int r = 0;
    u64* out = kept + g * T;
    for (int i = 0; i < n; ++i)
      if (!supp[i]) out[r++] = keys[i];
    kept_n[g] = r;
  }
}

__global__ void ssd_merge_kernel(const u64* __restrict__ kept, const int32_t* __restrict__ kept_n,
                                 const float* __restrict__ probT, const float* __restrict__ boxes, int P, int K,
                                 int T, int M, float* __restrict__ out_boxes, float* __restrict__ out_scores,
                                 int64_t* __restrict__ out_labels, int64_t* __restrict__ out_counts) {
  const int b = blockIdx.x, t = threadIdx.x, nt = blockDim.x;
  const int32_t* nb = kept_n + (int64_t)b * K;
  int64_t total = 0;
  for (int c = 0; c < K; ++c) total += nb[c];
  const int n_out = (int)(total < M ? total : M);
  for (int r = n_out + t; r < M; r += nt) {
    const int64_t o = (int64_t)b * M + r;
    out_boxes[o * 4 + 0] = 0.0f, out_boxes[o * 4 + 1] = 0.0f, out_boxes[o * 4 + 2] = 0.0f, out_boxes[o * 4 + 3] = 0.0f;
    out_scores[o] = 0.0f;
    out_labels[o] = -1;
  }
  if (t == 0) out_counts[b] = n_out;
  for (int c = 0; c < K; ++c) {
    const int nc = nb[c];
    const u64* list = kept + ((int64_t)b * K + c) * T;
    for (int r = t; r < nc; r += nt) {
      const u64 key = list[r];
      const uint32_t sk = key_score(key);
      int64_t rank = r;
      for (int c2 = 0; c2 < K && rank < M; ++c2) {
        if (c2 == c) continue;
        const u64* l2 = kept + ((int64_t)b * K + c2) * T;
        int lo = 0, hi = nb[c2];
        while (lo < hi) {  // entries of class c2 that precede (score, c): higher score, or equal score and c2 < c
          const int mid = (lo + hi) >> 1;
          const uint32_t s2 = key_score(l2[mid]);
          if (c2 < c ? s2 >= sk : s2 > sk) lo = mid + 1;
          else hi = mid;
        }
        rank += lo;
      }
      if (rank < M) {
        const int64_t o = (int64_t)b * M + rank;
        const uint32_t p = key_index(key);
        const float* bb = boxes + ((int64_t)b * P + p) * 4;
        out_boxes[o * 4 + 0] = bb[0], out_boxes[o * 4 + 1] = bb[1], out_boxes[o * 4 + 2] = bb[2],
                         out_boxes[o * 4 + 3] = bb[3];
        out_scores[o] = probT[((int64_t)b * K + c) * P + p];
        out_labels[o] = c;
      }
    }
  }
}

}  // namespace

int dxb_launch_ssd_prepare(const float* loc, const float* scores, const float* priors, int64_t B, int64_t P,
                           int64_t K, float v0, float v1, bool softmax, float* boxes, float* probT, void* stream) {
  const int64_t total = B * P;
  if (total <= 0) return 0;
  int64_t blocks = (total + kPrepareThreads - 1) / kPrepareThreads;
  if (blocks > 65536) blocks = 65536;
  ssd_prepare_kernel<<<(unsigned)blocks, kPrepareThreads, 0, (cudaStream_t)stream>>>(loc, scores, priors, B, P, K, v0,
                                                                                     v1, softmax, boxes, probT);
  return (int)cudaGetLastError();
}

int64_t dxb_ssd_class_bytes(int64_t T) { return class_bytes(T); }

bool dxb_ssd_class_needs_global(int64_t T) { return class_bytes(T) > kSharedLimit - 4096; }

int dxb_launch_ssd_classes(const float* probT, const float* boxes, int64_t B, int64_t P, int64_t K, int64_t bg,
                           float score_thr, float iou_thr, int64_t T, uint64_t* kept, int32_t* kept_n,
                           uint8_t* workspace, void* stream) {
  if (B <= 0 || K <= 0) return 0;
  const size_t shared = workspace ? 0 : (size_t)class_bytes(T);
  ssd_class_kernel<<<(unsigned)(B * K), kClassThreads, shared, (cudaStream_t)stream>>>(
      probT, boxes, (int)P, (int)K, (int)bg, score_thr, iou_thr, (int)T, (u64*)kept, kept_n, workspace);
  return (int)cudaGetLastError();
}

int dxb_launch_ssd_merge(const uint64_t* kept, const int32_t* kept_n, const float* probT, const float* boxes,
                         int64_t B, int64_t P, int64_t K, int64_t T, int64_t M, float* out_boxes, float* out_scores,
                         int64_t* out_labels, int64_t* out_counts, void* stream) {
  if (B <= 0) return 0;
  ssd_merge_kernel<<<(unsigned)B, kMergeThreads, 0, (cudaStream_t)stream>>>(
      (const u64*)kept, kept_n, probT, boxes, (int)P, (int)K, (int)T, (int)M, out_boxes, out_scores, out_labels,
      out_counts);
  return (int)cudaGetLastError();
}

}  // namespace distortx
