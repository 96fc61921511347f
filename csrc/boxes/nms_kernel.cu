// Raw CUDA kernels of batched NMS (bitmask style). No torch headers: the glue is nms_cuda.cpp.
//
// The boxes arrive sorted by (class asc, score desc, index asc). nms_mask_kernel: one 64-thread block per
// (row tile, column tile) of the upper block triangle; thread t of row tile rb computes the 64-bit word
// "which boxes of column tile cb (after me) share my class and overlap me above the threshold". Because the
// classes are sorted, a tile pair whose class ranges cannot meet is skipped (its words are zeroed).
// nms_walk_kernel: one thread block walks the tiles in order. For each row tile, thread 0 resolves the 64
// rows sequentially from the tile's diagonal words (in shared memory), then all threads OR the masks of
// the newly kept rows into the removal words of the later tiles. Keep flags stay on the device: no host
// round trip per box (three __syncthreads per 64 boxes).
#include <cuda_runtime.h>

#include "boxes/box_launch.h"
#include "boxes/box_math.h"

namespace distortx {
namespace {

using namespace boxes;
typedef unsigned long long u64;

constexpr int kTile = 64;
constexpr int kWalkThreads = 256;
constexpr int64_t kWalkSharedWords = 5120;  // 40 KiB of removal words in shared memory, else global scratch

__global__ void nms_mask_kernel(const float* __restrict__ boxes, const int64_t* __restrict__ cls, int n,
                                int col_blocks, float thr, u64* __restrict__ mask) {
  const int rb = blockIdx.y, cb = blockIdx.x;
  if (cb < rb) return;
  const int row_n = min(n - rb * kTile, kTile), col_n = min(n - cb * kTile, kTile);
  const int t = threadIdx.x;
  const int row = rb * kTile + t;
  if (cls[cb * kTile] > cls[rb * kTile + row_n - 1]) {  // uniform over the block
    if (t < row_n) mask[(size_t)row * col_blocks + cb] = 0ull;
    return;
  }
  __shared__ float sx1[kTile], sy1[kTile], sx2[kTile], sy2[kTile], sarea[kTile];
  __shared__ int64_t scls[kTile];
  if (t < col_n) {
    const float* b = boxes + (size_t)(cb * kTile + t) * 4;
    sx1[t] = b[0], sy1[t] = b[1], sx2[t] = b[2], sy2[t] = b[3];
    sarea[t] = box_area(b[0], b[1], b[2], b[3]);
    scls[t] = cls[cb * kTile + t];
  }
  __syncthreads();
  if (t >= row_n) return;
  const float* b = boxes + (size_t)row * 4;
  const float x1 = b[0], y1 = b[1], x2 = b[2], y2 = b[3], a = box_area(x1, y1, x2, y2);
  const int64_t c = cls[row];
  u64 bits = 0ull;
  for (int k = (rb == cb ? t + 1 : 0); k < col_n; ++k)
    if (scls[k] == c && box_iou(x1, y1, x2, y2, a, sx1[k], sy1[k], sx2[k], sy2[k], sarea[k]) > thr) bits |= 1ull << k;
  mask[(size_t)row * col_blocks + cb] = bits;
}

__global__ void nms_walk_kernel(const u64* __restrict__ mask, const uint8_t* __restrict__ valid, int n,
                                int col_blocks, uint8_t* __restrict__ keep, u64* remv_global) {
  extern __shared__ u64 remv_shared[];
  __shared__ u64 diag[kTile];
  __shared__ uint8_t svalid[kTile];
  __shared__ u64 s_kept;
  u64* remv = remv_global ? remv_global : remv_shared;
  const int t = threadIdx.x;
  for (int j = t; j < col_blocks; j += blockDim.x) remv[j] = 0ull;
  __syncthreads();
  for (int rb = 0; rb < col_blocks; ++rb) {
    const int rows = min(n - rb * kTile, kTile);
    if (t < rows) {
      diag[t] = mask[(size_t)(rb * kTile + t) * col_blocks + rb];
      svalid[t] = valid[rb * kTile + t];
    }
    __syncthreads();
    if (t == 0) {  // the sequential part: 64 rows from shared memory
      u64 removed = remv[rb], kept = 0ull;
      for (int r = 0; r < rows; ++r) {
        if (!((removed >> r) & 1ull) && svalid[r]) {
          kept |= 1ull << r;
          removed |= diag[r];
        }
      }
      s_kept = kept;
    }
    __syncthreads();
    const u64 kept = s_kept;
    if (t < rows) keep[rb * kTile + t] = (uint8_t)((kept >> t) & 1ull);
    for (int j = t; j < col_blocks; j += blockDim.x) {  // word j is always owned by thread j % blockDim
      if (j <= rb) continue;
      u64 acc = 0ull, kk = kept;
      while (kk) {
        const int r = __ffsll((long long)kk) - 1;
        kk &= kk - 1ull;
        acc |= mask[(size_t)(rb * kTile + r) * col_blocks + j];
      }
      remv[j] |= acc;
    }
    __syncthreads();
  }
}

}  // namespace

int dxb_launch_nms_mask(const float* boxes, const int64_t* cls, int64_t n, float thr, uint64_t* mask, void* stream) {
  if (n <= 0) return 0;
  const int col_blocks = (int)((n + kTile - 1) / kTile);
  nms_mask_kernel<<<dim3(col_blocks, col_blocks), kTile, 0, (cudaStream_t)stream>>>(boxes, cls, (int)n, col_blocks,
                                                                                   thr, (u64*)mask);
  return (int)cudaGetLastError();
}

int64_t dxb_nms_walk_scratch_words(int64_t n) {
  const int64_t col_blocks = (n + kTile - 1) / kTile;
  return col_blocks > kWalkSharedWords ? col_blocks : 0;
}

int dxb_launch_nms_walk(const uint64_t* mask, const uint8_t* valid, int64_t n, uint8_t* keep, uint64_t* remv,
                        void* stream) {
  if (n <= 0) return 0;
  const int col_blocks = (int)((n + kTile - 1) / kTile);
  const size_t shared = remv ? 0 : (size_t)col_blocks * sizeof(u64);
  nms_walk_kernel<<<1, kWalkThreads, shared, (cudaStream_t)stream>>>((const u64*)mask, valid, (int)n, col_blocks,
                                                                      keep, (u64*)remv);
  return (int)cudaGetLastError();
}

}  // namespace distortx
