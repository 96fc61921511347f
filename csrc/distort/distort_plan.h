// Host-side planning of the fused distortion op, shared by the CPU and CUDA glue (torch types allowed here).
#pragma once
#include <ATen/ATen.h>

#include <functional>
#include <vector>

#include "distort/nlm.h"
#include "distort/region.h"

namespace distortx {

// Backend hooks of the planner's torch-side pre-passes.
struct DxBackend {
  // Fills out (float32 [K, L], on the images' device) with rng.normal(seeds[k], i, stream), i = 0..L-1;
  // seeds int64 [K] on the images' device.
  std::function<void(at::Tensor out, const at::Tensor& seeds, uint32_t stream)> fill_normal;
  // Writes the mean BT.601 luminance of images[which[k]] to out[k] (float32 [K] on the images' device).
  std::function<void(const at::Tensor& images, const std::vector<int64_t>& which, float* out)> mean_luma;
};

struct DxPlan {
  std::vector<DxRegion> regs;  // [N * R], host copy
  std::vector<DxPass> passes;  // backend pre-pass jobs, plus a sentinel whose begin = pass_total
  int64_t pass_total = 0;      // number of pre-pass elements (one thread / iteration each)
  at::Tensor scratch;          // float32 on the images' device, at least 1 element
  int64_t active = 0;          // number of regions with a non-empty box and a code
};

// Checks the op's arguments (shapes, dtypes, devices); throws with a readable message.
void dx_check_args(const at::Tensor& images, const at::Tensor& codes, const at::Tensor& values,
                   const at::Tensor& boxes, const at::Tensor& seeds);

// Builds the regions, allocates the scratch buffer and fills the torch-computed pre-passes
// (contrast grey levels, fnoise fields) and the host constants (blur weights). The backend then runs the
// pre-pass jobs (dx_prepass over [0, pass_total)) and the main per-pixel pass.
DxPlan dx_make_plan(const at::Tensor& images, const at::Tensor& codes, const at::Tensor& values,
                    const at::Tensor& boxes, const at::Tensor& seeds, const DxBackend& backend);

// The mean BT.601 luminance of images[which[k]] written to out[k] (float32 [K] on the images' device), with
// ATen on the images' device (= tone.mean_luminance): the CUDA backend's and the scalar CPU op's hook.
void dx_mean_luma_aten(const at::Tensor& images, const std::vector<int64_t>& which, float* out);

// How the CUDA launcher runs a plan's pre-pass jobs, and the scalar CPU op with it: one job list per
// pre-pass family (each launched as a kernel holding that family's body only) and the NL-means tiles.
struct DxPrepassGroup {
  int code = 0;                // DX_GAUSSIAN_BLUR, DX_LOWPASS, DX_JPEG, DX_MARBLE; 0 = any other code
  std::vector<DxPass> passes;  // the family's jobs, begin counted from 0, + a sentinel (begin = total)
  int64_t total = 0;           // elements
};

struct DxLaunchPlan {
  std::vector<DxPrepassGroup> groups;  // non-empty groups only
  std::vector<DxNlmTile> nlm_tiles;    // kNlmTileW x kNlmTileH tiles covering every NL-means box
  int nlm_block = kNlmBlock;           // offsets per NL-means distance block: 4, or 2 with DISTORTX_CUDA_NLM_BLOCK=2
};                                     // (same values, a smaller unrolled loop: a knob for GPU benchmarks)

DxLaunchPlan dx_launch_plan(const DxPlan& plan);

// Codes with a native body (the Python wrapper routes the others to the reference path).
std::vector<int64_t> dx_native_codes();

}  // namespace distortx
