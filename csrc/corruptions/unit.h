// Rows of the ImageNet-C family's uint8 images as the float rows its torch code computes on (unit_cpu.cpp), for
// the C++ passes that read and write uint8 directly instead of converting whole images before and after.
#pragma once

#include <cstdint>

namespace distortx {

// Row y of one uint8 image [C, H, W] (channels last when `last`: [H, W, C] in memory) as C float rows of W values
// v / 255 (u8_to_unit's bits), rows[c * W + k].
void read_unit_row(const uint8_t* image, bool last, int64_t C, int64_t H, int64_t W, int64_t y, float* rows);

// C float rows of W values into row y of one uint8 image, each floor(clamp(v, 0, 1) * 255 + 0.001) (unit_to_u8's
// bits).
void write_u8_row(const float* rows, bool last, int64_t C, int64_t H, int64_t W, int64_t y, uint8_t* image);

}  // namespace distortx
