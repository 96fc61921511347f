// Launchers of the fused distortion CUDA kernels (csrc/distort/distort_kernel.cu). Plain C++: no torch, no
// CUDA headers, so the torch glue (distort_cuda.cpp) and the raw kernels compile separately.
#pragma once
#include <stdint.h>

#include "distort/region.h"

namespace distortx {

// All launchers are asynchronous on `stream` (a cudaStream_t passed as void*); they return the
// cudaError_t of the launch as an int (0 = success).

// out[k, i] = normal01(seeds[k], i, rng_stream), out float32 [K, L], seeds int64 [K] (device pointers).
int dx_launch_fill_normal(float* out, const int64_t* seeds, int64_t K, int64_t L, uint32_t rng_stream, void* stream);

// The pre-pass jobs: elements [0, total) of passes[0..np-1] (+ sentinel), writing into scratch.
int dx_launch_prepass(const DxBatch& b, float* scratch, const DxPass* passes, int np, int64_t total, void* stream);

// The main pass: every output pixel of the batch (b.regs and b.scratch are device pointers).
int dx_launch_distort(const DxBatch& b, void* stream);

}  // namespace distortx
