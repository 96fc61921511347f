// Op codes of the fused distortion kernel. Twin of distortx/distortions/native_codes.py (a test checks it).
#pragma once

namespace distortx {

enum DxCode : int {
  DX_NONE = 0,  // padding / no-op region
  DX_GAUSSIAN_NOISE = 1,
  DX_GAUSSIAN_NOISE_SIGMA = 2,
  DX_MONO_GAUSSIAN_NOISE = 3,
  DX_SALT_PEPPER = 4,
  DX_QUANTIZATION = 5,
  DX_CONTRAST = 6,
  DX_FNOISE = 7,
  DX_GAUSSIAN_BLUR = 8,
  DX_MOTION_BLUR = 9,
  DX_LOWPASS = 10,
  DX_MARBLE = 11,
  DX_TWIRL = 12,
  DX_JPEG = 13,
  DX_NLM_DENOISE = 14,
  DX_MONO_SALT_PEPPER = 15,
  DX_NUM_CODES = 16,
  // internal, set by the planner only: the region keeps its pixels (e.g. blur with sigma 0) but still wins them
  DX_IDENTITY = 100,
};

}  // namespace distortx
