// Host-side planning of the fused distortion op, shared by the CPU and CUDA glue (torch types allowed here).
#pragma once
#include <ATen/ATen.h>

#include <functional>
#include <vector>

#include "distort/region.h"

namespace distortx {

// Fills out (float32 [K, L], on the images' device) with normal01(seeds[k], i, stream), i = 0..L-1.
using DxFillNormal = std::function<void(at::Tensor out, const at::Tensor& seeds, uint32_t stream)>;

struct DxPlan {
  std::vector<DxRegion> regs;  // [N * R], host copy
  at::Tensor scratch;          // float32 on the images' device, at least 1 element
  int64_t active = 0;          // number of regions with a non-empty box and a code
  bool any_blur_rows = false;  // gaussian_blur regions need the horizontal pre-pass
};

// Checks the op's arguments (shapes, dtypes, devices); throws with a readable message.
void dx_check_args(const at::Tensor& images, const at::Tensor& codes, const at::Tensor& values,
                   const at::Tensor& boxes, const at::Tensor& seeds);

// Builds the regions, allocates the scratch buffer and fills the torch-computed pre-passes
// (contrast grey levels, fnoise fields). Backend pre-passes (blur rows, ...) are left to the caller.
DxPlan dx_make_plan(const at::Tensor& images, const at::Tensor& codes, const at::Tensor& values,
                    const at::Tensor& boxes, const at::Tensor& seeds, const DxFillNormal& fill_normal);

// Codes with a native body (the Python wrapper routes the others to the reference path).
std::vector<int64_t> dx_native_codes();

}  // namespace distortx
