// CUDA kernels of the fused distortion op: raw pointers only, the per-pixel bodies come from the shared
// headers (csrc/distort/*.h). Includes no torch header on purpose (compiles in seconds).
//
// Floating point: setup.py compiles every .cu with -fmad=false and without --use_fast_math, so each float /
// double + - * / and sqrt is one IEEE round-to-nearest operation, as on the CPU (x86-64 without FMA, GCC
// -ffp-contract=off): the shared bodies give the same bits on both sides. The scalar CPU op
// (distortx::distort_scalar, distort_scalar_cpu.cpp) runs exactly what these kernels run, so the CPU tests
// check the GPU's arithmetic.
#include <cuda_runtime.h>

#include "distort/distort_launch.h"
#include "distort/pixel.h"

namespace distortx {
namespace {

constexpr int kThreads = 256;

int blocks_for(int64_t n) {
  int64_t b = (n + kThreads - 1) / kThreads;
  return (int)(b < 65535LL * 32 ? (b < 1 ? 1 : b) : 65535LL * 32);
}

// out[k, i]: blockIdx.y = k (grid-stride), 32-bit i within the row.
__global__ void fill_normal_kernel(float* out, const int64_t* seeds, int64_t K, int64_t L, uint32_t rs) {
  for (int64_t k = blockIdx.y; k < K; k += gridDim.y) {
    const int64_t seed = seeds[k];
    float* row = out + k * L;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < L; i += (int64_t)gridDim.x * blockDim.x)
      row[i] = dx_normal(seed, i, rs);
  }
}

// One thread per pre-pass element of one code (a blur row sample, a lowpass cell, a JPEG 8x8 block, a
// marble lattice corner): kCode != 0 compiles only that code's body (its registers, not JPEG's, set the
// occupancy); kCode = 0 dispatches on the region's code.
template <int kCode>
__global__ void prepass_kernel(DxBatch b, float* scratch, const DxPass* passes, int np, int64_t total) {
  for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < total; t += (int64_t)gridDim.x * blockDim.x)
    dx_prepass_t<kCode>(b, scratch, passes, np, t);
}

// One block per NL-means tile: copy the tile's reflect-padded window to shared memory, then one thread per
// (column, run of kNlmRun rows) runs dx_nlm_tile_thread on it. 128 threads; a 128-register cap (a thread
// keeps kNlmRun x (C + 1) float64 sums) lets 4 blocks share an SM (4 windows of <= 42.5 KB).
template <int kC, int kK>
__global__ void __launch_bounds__(kNlmTileW * (kNlmTileH / kNlmRun), 4) nlm_kernel(DxBatch b, float* scratch, const DxNlmTile* tiles) {
  extern __shared__ float win[];
  const DxNlmTile t = tiles[blockIdx.x];
  const float* img = b.in + (int64_t)(t.slot / b.R) * kC * b.H * b.W;
  constexpr int count = kC * kNlmWinH * kNlmWinW, threads = kNlmTileW * (kNlmTileH / kNlmRun);
  for (int e = threadIdx.y * kNlmTileW + threadIdx.x; e < count; e += threads)
    dx_nlm_window_fill(img, kC, b.H, b.W, t.x0, t.y0, win, e);
  __syncthreads();
  dx_nlm_tile_thread<kC, kK>(b.regs[t.slot], t, win, threadIdx.x, threadIdx.y, scratch);
}

// The main pass: blockIdx.y = image (grid-stride), 32-bit pixel index p = y W + x from blockIdx.x (row and
// column by a multiply-high, no division); the image's regions are staged in shared memory when they fit.
constexpr int kMaxStagedRegions = 32;

template <int kC>
__global__ void __launch_bounds__(kThreads) distort_kernel(DxBatch b, DxFastDiv wdiv) {
  __shared__ DxRegion staged[kMaxStagedRegions];
  const uint32_t hw = (uint32_t)b.H * (uint32_t)b.W;
  const uint32_t p = blockIdx.x * blockDim.x + threadIdx.x;
  const bool stage = b.R <= kMaxStagedRegions;
  constexpr int kWords = (int)(sizeof(DxRegion) / sizeof(uint64_t));
  for (int n = blockIdx.y; n < b.N; n += gridDim.y) {
    const DxRegion* regs = b.regs + (int64_t)n * b.R;
    if (stage) {
      __syncthreads();  // the previous image's regions are no longer read
      const uint64_t* src = reinterpret_cast<const uint64_t*>(regs);
      uint64_t* dst = reinterpret_cast<uint64_t*>(staged);
      for (int i = threadIdx.x; i < b.R * kWords; i += blockDim.x) dst[i] = src[i];
      __syncthreads();
      regs = staged;
    }
    if (p < hw) {
      const uint32_t y = dx_div(wdiv, p);
      dx_output_pixel_c<kC>(b, regs, n, (int)y, (int)(p - y * (uint32_t)b.W));
    }
  }
}

int grid_y(int64_t n) { return (int)(n < 65535 ? (n < 1 ? 1 : n) : 65535); }

template <int kC, int kK>
int launch_nlm(const DxBatch& b, float* scratch, const DxNlmTile* tiles, int64_t ntiles, cudaStream_t stream) {
  const size_t smem = sizeof(float) * kC * kNlmWinH * kNlmWinW;  // <= 42.5 KB: no opt-in above 48 KB needed
  const dim3 threads(kNlmTileW, kNlmTileH / kNlmRun);
  for (int64_t first = 0; first < ntiles; first += 2147483647LL) {
    const int64_t count = ntiles - first < 2147483647LL ? ntiles - first : 2147483647LL;
    nlm_kernel<kC, kK><<<(unsigned)count, threads, smem, stream>>>(b, scratch, tiles + first);
  }
  return (int)cudaGetLastError();
}

}  // namespace

int dx_launch_fill_normal(float* out, const int64_t* seeds, int64_t K, int64_t L, uint32_t rng_stream, void* stream) {
  if (K * L == 0) return 0;
  int64_t bx = (L + kThreads - 1) / kThreads;
  if (bx > 4096) bx = 4096;
  fill_normal_kernel<<<dim3((unsigned)bx, grid_y(K)), kThreads, 0, (cudaStream_t)stream>>>(out, seeds, K, L, rng_stream);
  return (int)cudaGetLastError();
}

int dx_launch_prepass(int code, const DxBatch& b, float* scratch, const DxPass* passes, int np, int64_t total,
                      void* stream) {
  if (total == 0) return 0;
  const cudaStream_t s = (cudaStream_t)stream;
  switch (code) {  // one kernel per code, holding that code's pre-pass body only (codes.h)
#define DX_PREPASS_LAUNCH(NAME, ...) \
  case DX_##NAME: prepass_kernel<DX_##NAME><<<blocks_for(total), kThreads, 0, s>>>(b, scratch, passes, np, total); break;
    DX_CODE_TABLE(DX_PREPASS_LAUNCH)
#undef DX_PREPASS_LAUNCH
    default: prepass_kernel<0><<<blocks_for(total), kThreads, 0, s>>>(b, scratch, passes, np, total); break;
  }
  return (int)cudaGetLastError();
}

int dx_launch_nlm(const DxBatch& b, float* scratch, const DxNlmTile* tiles, int64_t ntiles, int block, void* stream) {
  if (ntiles == 0) return 0;
  const cudaStream_t s = (cudaStream_t)stream;
  if (block == 2)
    return b.C == 3 ? launch_nlm<3, 2>(b, scratch, tiles, ntiles, s) : launch_nlm<1, 2>(b, scratch, tiles, ntiles, s);
  return b.C == 3 ? launch_nlm<3, 4>(b, scratch, tiles, ntiles, s) : launch_nlm<1, 4>(b, scratch, tiles, ntiles, s);
}

int dx_launch_distort(const DxBatch& b, void* stream) {
  const int64_t hw = (int64_t)b.H * b.W;
  if (hw == 0 || b.N == 0) return 0;
  const dim3 grid((unsigned)((hw + kThreads - 1) / kThreads), grid_y(b.N));
  const DxFastDiv wdiv = dx_fast_div((uint32_t)b.W);
  if (b.C == 3) {  // C is 1 or 3 (dx_check_args)
    distort_kernel<3><<<grid, kThreads, 0, (cudaStream_t)stream>>>(b, wdiv);
  } else {
    distort_kernel<1><<<grid, kThreads, 0, (cudaStream_t)stream>>>(b, wdiv);
  }
  return (int)cudaGetLastError();
}

const char* dx_cuda_error_string(int err) { return cudaGetErrorString((cudaError_t)err); }

}  // namespace distortx
