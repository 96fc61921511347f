// Launchers of the fused distortion CUDA kernels (csrc/distort/distort_kernel.cu). Plain C++: no torch, no
// CUDA headers, so the torch glue (distort_cuda.cpp) and the raw kernels compile separately.
#pragma once
#include <stdint.h>

#include "distort/nlm.h"
#include "distort/region.h"

namespace distortx {

// All launchers are asynchronous on `stream` (a cudaStream_t passed as void*); they return the
// cudaError_t of the launch as an int (0 = success).

// out[k, i] = dx_normal(seeds[k], i, rng_stream), out float32 [K, L], seeds int64 [K] (device pointers).
int dx_launch_fill_normal(float* out, const int64_t* seeds, int64_t K, int64_t L, uint32_t rng_stream, void* stream);

// The pre-pass elements [0, total) of one family's job list passes[0..np-1] (+ sentinel), writing into
// scratch: one thread per element. code: the jobs' code (each code of the table, codes.h, gets a kernel holding
// only its pre-pass body; any other value runs the dispatching one).
int dx_launch_prepass(int code, const DxBatch& b, float* scratch, const DxPass* passes, int np, int64_t total,
                      void* stream);

// NL-means tiles (device pointer, ntiles of kNlmTileW x kNlmTileH pixels, nlm.h): one block per tile,
// one thread per column and run of kNlmRun rows; block = offsets per distance block (2 or 4, default
// kNlmBlock: the same values, another unrolled loop size). C = 1 or 3.
int dx_launch_nlm(const DxBatch& b, float* scratch, const DxNlmTile* tiles, int64_t ntiles, int block, void* stream);

// The main pass: every output pixel of the batch (b.regs and b.scratch are device pointers).
int dx_launch_distort(const DxBatch& b, void* stream);

// cudaGetErrorString of a launcher's return value.
const char* dx_cuda_error_string(int err);

}  // namespace distortx
