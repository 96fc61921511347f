// Rows of the ImageNet-C family's uint8 images as the float rows its torch code computes on (unit_cpu.cpp), for
// the C++ passes that read and write uint8 directly instead of converting whole images before and after.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace distortx {

// A uint8 batch [N, C, H, W] as the row helpers read it: `last` when it is a channels-last view with C > 1 (a numpy
// H x W x C image's layout, read in place), else made NCHW-contiguous.
struct U8Batch {
  at::Tensor x;
  bool last;
};
U8Batch u8_batch(const at::Tensor& x);

// An uninitialised uint8 batch of b's sizes in b's layout (a numpy image goes back without another copy).
at::Tensor empty_u8_like(const U8Batch& b);

// Row y of one uint8 image [C, H, W] (channels last when `last`: [H, W, C] in memory) as C float rows of W values
// v / 255 (u8_to_unit's bits), rows[c * W + k].
void read_unit_row(const uint8_t* image, bool last, int64_t C, int64_t H, int64_t W, int64_t y, float* rows);

// C float rows of W values into row y of one uint8 image, each floor(clamp(v, 0, 1) * 255 + 0.001) (unit_to_u8's
// bits).
void write_u8_row(const float* rows, bool last, int64_t C, int64_t H, int64_t W, int64_t y, uint8_t* image);

}  // namespace distortx
