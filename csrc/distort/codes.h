// The one table of the fused distortion kernel's op codes. Everything per code is generated from it: the
// DxCode enum, dx_has_native, the per-pixel and pre-pass dispatch (pixel.h), the planner's dispatch
// (distort_plan.cpp), the CUDA pre-pass launches (distort_kernel.cu, distort_scalar_cpu.cpp) and the Python
// list (distortx._C.NATIVE_CODES, read by distortx/distortions/native_codes.py).
//
// X(NAME, code, body, prepass, plan):
//   NAME     DX_<NAME> in C++, lower-cased the distortion's registered name in Python
//   code     the op code (stable: datasets and plugins refer to it; 0 = empty slot, 100 = planner's identity)
//   body     per-pixel body, (const DxRegion&, const float* scratch, const float* img, int C, int H, int W,
//            int y, int x, float* o): the C channel values of pixel (y, x) before the clamp to [0, 1]
//   prepass  pre-pass element body, (const DxRegion&, float* scratch, const float* img, int C, int H, int W,
//            int64_t e), or dx_no_prepass
//   plan     host planner, void (DxRegion& g, DxPlanner& p) (distort_plan.h; defined in <family>_plan.cpp)
#pragma once

#define DX_CODE_TABLE(X)                                                                                     \
  X(GAUSSIAN_NOISE, 1, dx_gaussian_noise, dx_no_prepass, dx_plan_gaussian_noise)                             \
  X(GAUSSIAN_NOISE_SIGMA, 2, dx_gaussian_noise, dx_no_prepass, dx_plan_gaussian_noise_sigma)                 \
  X(MONO_GAUSSIAN_NOISE, 3, dx_mono_noise, dx_no_prepass, dx_plan_nothing)                                   \
  X(SALT_PEPPER, 4, dx_salt_pepper, dx_no_prepass, dx_plan_nothing)                                          \
  X(QUANTIZATION, 5, dx_quantization, dx_no_prepass, dx_plan_quantization)                                   \
  X(CONTRAST, 6, dx_contrast, dx_no_prepass, dx_plan_contrast)                                               \
  X(FNOISE, 7, dx_fnoise, dx_no_prepass, dx_plan_fnoise)                                                     \
  X(GAUSSIAN_BLUR, 8, dx_gaussian_blur, dx_gaussian_rows, dx_plan_gaussian_blur)                             \
  X(MOTION_BLUR, 9, dx_motion_blur, dx_no_prepass, dx_plan_motion_blur)                                      \
  X(LOWPASS, 10, dx_lowpass, dx_lowpass_cell, dx_plan_lowpass)                                               \
  X(MARBLE, 11, dx_marble, dx_marble_lattice, dx_plan_marble)                                                \
  X(TWIRL, 12, dx_twirl, dx_no_prepass, dx_plan_twirl)                                                       \
  X(JPEG, 13, dx_jpeg, dx_jpeg_block, dx_plan_jpeg)                                                          \
  X(NLM_DENOISE, 14, dx_nlm, dx_nlm_pixel_pass, dx_plan_nlm)                                                 \
  X(MONO_SALT_PEPPER, 15, dx_mono_salt_pepper, dx_no_prepass, dx_plan_nothing)

namespace distortx {

enum DxCode : int {
  DX_NONE = 0,  // padding / no-op region
#define DX_ENUM_ENTRY(NAME, CODE, ...) DX_##NAME = CODE,
  DX_CODE_TABLE(DX_ENUM_ENTRY)
#undef DX_ENUM_ENTRY
  DX_NUM_CODES = 16,  // codes are < DX_NUM_CODES
  // internal, set by the planner only: the region keeps its pixels (e.g. blur with sigma 0) but still wins them
  DX_IDENTITY = 100,
};

// True if `code` has a native body in this build.
constexpr bool dx_has_native(int code) {
  switch (code) {
#define DX_HAS_ENTRY(NAME, ...) case DX_##NAME:
    DX_CODE_TABLE(DX_HAS_ENTRY)
#undef DX_HAS_ENTRY
    return true;
    default:
      return false;
  }
}

#define DX_MAX_ENTRY(NAME, ...) static_assert(DX_##NAME > DX_NONE && DX_##NAME < DX_NUM_CODES, "codes lie in 1..DX_NUM_CODES-1");
DX_CODE_TABLE(DX_MAX_ENTRY)
#undef DX_MAX_ENTRY

}  // namespace distortx
