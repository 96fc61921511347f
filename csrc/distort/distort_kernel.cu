// CUDA kernels of the fused distortion op: raw pointers only, the per-pixel bodies come from the shared
// headers (csrc/distort/*.h). Includes no torch header on purpose (compiles in about a second).
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

__global__ void fill_normal_kernel(float* out, const int64_t* seeds, int64_t K, int64_t L, uint32_t rs) {
  const int64_t total = K * L;
  for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < total; t += (int64_t)gridDim.x * blockDim.x) {
    const int64_t k = t / L, i = t - k * L;
    out[t] = dx_normal(seeds[k], i, rs);
  }
}

// One thread per pre-pass element (a blur row sample, a lowpass cell, a JPEG 8x8 block, an NL-means pixel).
__global__ void prepass_kernel(DxBatch b, float* scratch, const DxPass* passes, int np, int64_t total) {
  for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < total; t += (int64_t)gridDim.x * blockDim.x)
    dx_prepass(b, scratch, passes, np, t);
}

// One thread per output pixel (grid-stride over N * H * W).
__global__ void distort_kernel(DxBatch b) {
  const int64_t plane = (int64_t)b.H * b.W, total = (int64_t)b.N * plane;
  for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < total; t += (int64_t)gridDim.x * blockDim.x) {
    const int n = (int)(t / plane);
    const int64_t p = t - n * plane;
    const int y = (int)(p / b.W), x = (int)(p - (int64_t)y * b.W);
    dx_output_pixel(b, n, y, x);
  }
}

}  // namespace

int dx_launch_fill_normal(float* out, const int64_t* seeds, int64_t K, int64_t L, uint32_t rng_stream, void* stream) {
  if (K * L == 0) return 0;
  fill_normal_kernel<<<blocks_for(K * L), kThreads, 0, (cudaStream_t)stream>>>(out, seeds, K, L, rng_stream);
  return (int)cudaGetLastError();
}

int dx_launch_prepass(const DxBatch& b, float* scratch, const DxPass* passes, int np, int64_t total, void* stream) {
  if (total == 0) return 0;
  prepass_kernel<<<blocks_for(total), kThreads, 0, (cudaStream_t)stream>>>(b, scratch, passes, np, total);
  return (int)cudaGetLastError();
}

int dx_launch_distort(const DxBatch& b, void* stream) {
  const int64_t total = (int64_t)b.N * b.H * b.W;
  if (total == 0) return 0;
  distort_kernel<<<blocks_for(total), kThreads, 0, (cudaStream_t)stream>>>(b);
  return (int)cudaGetLastError();
}

}  // namespace distortx
