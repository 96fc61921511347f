// scipy.ndimage's border modes for the ImageNet-C helpers (distortx/corruptions/common.py border_index):
// 0 "nearest" (clamp), 1 "reflect" (d c b a | a b c d), 2 "mirror" (d c b | a b c d, OpenCV's REFLECT_101).
#pragma once
#include <stdint.h>

#include <algorithm>

namespace distortx {

inline int64_t border_index(int64_t i, int64_t size, int64_t mode) {
  if (mode == 0 || size == 1) return std::min(std::max<int64_t>(i, 0), size - 1);
  const int64_t period = mode == 1 ? 2 * size : 2 * size - 2;
  int64_t m = i % period;
  if (m < 0) m += period;
  if (m < size) return m;
  return mode == 1 ? period - 1 - m : period - m;
}

}  // namespace distortx
