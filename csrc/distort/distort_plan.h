// Host-side planning of the fused distortion op, shared by the CPU and CUDA glue (torch types allowed here).
#pragma once
#include <ATen/ATen.h>

#include <functional>
#include <map>
#include <utility>
#include <vector>

#include "distort/codes.h"
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

// What a code's plan function (codes.h: `plan`, in <family>_plan.cpp) sees and may ask for while it plans its
// region g (box clipped and non-empty, v, seed set; off = -1): it fills g's derived values (region.h) and
// scratch geometry, or sets g.code = DX_IDENTITY, and asks the planner for scratch data. Plain C++.
class DxPlanner {
 public:
  int64_t N = 0, C = 0, H = 0, W = 0;  // the batch's shape
  int64_t slot = 0;                    // n * R + r of the region being planned

  // Scratch index of host constants shared by every region asking with the same (code, key): make() runs once.
  int32_t constants(int code, int64_t key, const std::function<std::vector<float>()>& make);
  // A pre-pass of `elements` elements (dx_prepass over them; one CUDA thread each) writing `floats` floats
  // at scratch[g.off] (the planner sets g.off).
  void prepass(int64_t elements, int64_t floats);
  // scratch[g.off] = the image's mean BT.601 luminance (= tone.mean_luminance; shared by the image's regions).
  void mean_luma();
  // scratch[g.off ..] = the normalised 1/f noise field [C, H, W] of the region's seed (= noise.pink_noise).
  void fnoise_field();

 private:
  friend DxPlan dx_make_plan(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                             const at::Tensor&, const DxBackend&);
  std::vector<float> consts_;
  std::map<std::pair<int, int64_t>, int32_t> const_at_;
  std::vector<int64_t> pass_slots_, pass_sizes_, pass_floats_, gray_slots_, fnoise_slots_;
};

// The plan functions of the code table, one per code (a code without derived values uses dx_plan_nothing).
void dx_plan_nothing(DxRegion& g, DxPlanner& p);
#define DX_PLAN_DECL(NAME, CODE, BODY, PREPASS, PLAN) void PLAN(DxRegion& g, DxPlanner& p);
DX_CODE_TABLE(DX_PLAN_DECL)
#undef DX_PLAN_DECL

// The normalised 1/f fields (= noise.pink_noise) of the given seeds: float32 [K, C, H, W] on the images'
// device (noise_plan.cpp).
at::Tensor dx_fnoise_fields(const at::Tensor& images, const std::vector<int64_t>& seeds, const DxBackend& backend);

// Checks the op's arguments (shapes, dtypes, devices); throws with a readable message.
void dx_check_args(const at::Tensor& images, const at::Tensor& codes, const at::Tensor& values,
                   const at::Tensor& boxes, const at::Tensor& seeds);

// Builds the regions, allocates the scratch buffer and fills the torch-computed pre-passes
// (contrast grey levels, fnoise fields) and the host constants (blur weights). The backend then runs the
// pre-pass jobs (dx_prepass over [0, pass_total)) and the main per-pixel pass.
DxPlan dx_make_plan(const at::Tensor& images, const at::Tensor& codes, const at::Tensor& values,
                    const at::Tensor& boxes, const at::Tensor& seeds, const DxBackend& backend);

// The kernels' view of one call: images and out [N, C, H, W] float32, R = regs per image, the plan's scratch,
// and the regions at `regs` (the plan's host copy, or their copy on the device).
DxBatch dx_batch(const at::Tensor& images, at::Tensor& out, int64_t R, const DxPlan& plan, const DxRegion* regs);

// The mean BT.601 luminance of images[which[k]] written to out[k] (float32 [K] on the images' device), with
// ATen on the images' device (= tone.mean_luminance): the CUDA backend's and the scalar CPU op's hook.
void dx_mean_luma_aten(const at::Tensor& images, const std::vector<int64_t>& which, float* out);

// How the CUDA launcher runs a plan's pre-pass jobs, and the scalar CPU op with it: one job list per
// code with a pre-pass (each launched as a kernel holding that code's pre-pass body only) and the NL-means tiles.
struct DxPrepassGroup {
  int code = 0;                // the code whose pre-pass jobs these are
  std::vector<DxPass> passes;  // the family's jobs, begin counted from 0, + a sentinel (begin = total)
  int64_t total = 0;           // elements
};

struct DxLaunchPlan {
  std::vector<DxPrepassGroup> groups;  // non-empty groups only
  std::vector<DxNlmTile> nlm_tiles;    // kNlmTileW x kNlmTileH tiles covering every NL-means box
  int nlm_block = kNlmBlock;           // offsets per NL-means distance block: 4, or 2 with DISTORTX_CUDA_NLM_BLOCK=2
};                                     // (same values, a smaller unrolled loop: a knob for GPU benchmarks)

DxLaunchPlan dx_launch_plan(const DxPlan& plan);

// The codes of the table (codes.h), ascending.
std::vector<int64_t> dx_native_codes();

}  // namespace distortx
