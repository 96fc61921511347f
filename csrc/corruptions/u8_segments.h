// The ImageNet-C family's uint8 one-pass ops (noise_u8_cpu.cpp, shot_u8_cpu.cpp): a uint8 image [N, C, H, W],
// NCHW- or channels-last-contiguous, walked in row segments in memory order, each value with the counter-RNG
// index c*H*W + y*W + x that the float forms draw it with (rng.uniform(seed, index, stream)).
#pragma once
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cstdlib>
#include <cstring>
#include <vector>

namespace distortx {
namespace cpu {

// Whether the AVX-512 loops run: the CPU has AVX-512 F / DQ / BW / VL and DISTORTX_U8_SIMD is not "0" (which runs
// the AVX2 / baseline twins, for tests/test_native_u8.py to compare bit for bit).
inline bool u8_avx512_enabled() {
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
  static const bool on = !(std::getenv("DISTORTX_U8_SIMD") && std::strcmp(std::getenv("DISTORTX_U8_SIMD"), "0") == 0) &&
                         __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  return on;
#else
  return false;
#endif
}

// Whether a uint8 [N, C, H, W] tensor is channels-last in memory (and not also NCHW-contiguous).
inline bool u8_channels_last(const at::Tensor& t) {
  return t.size(1) > 1 && t.is_contiguous(at::MemoryFormat::ChannelsLast) && !t.is_contiguous();
}

// Calls fn(n, index, at, len) for every row segment, in parallel over rows: `len` values starting at element `at`
// of the memory (input and output alike), whose RNG indices are index[0 .. len). Channels last: one segment per
// image row (the C x W interleaved values; value j is channel j % C of column j / C); NCHW: one per channel row.
// The indices fit 32 bits (checked by the caller: C*H*W < 2^32).
template <class F>
void for_each_u8_segment(int64_t N, int64_t C, int64_t H, int64_t W, bool last, F&& fn) {
  const int64_t plane = H * W, seg = last ? C * W : W;
  std::vector<uint32_t> offset((size_t)seg);
  for (int64_t j = 0; j < seg; ++j) offset[j] = (uint32_t)(last ? (j % C) * plane + j / C : j);
  at::parallel_for(0, N * H, 8, [&](int64_t r0, int64_t r1) {
    std::vector<uint32_t> index((size_t)seg);
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / H, y = r % H;
      for (int64_t c = 0; c < (last ? 1 : C); ++c) {
        const uint32_t base = (uint32_t)(c * plane + y * W);
        for (int64_t j = 0; j < seg; ++j) index[j] = offset[j] + base;
        fn(n, index.data(), n * C * plane + (last ? y * W * C : c * plane + y * W), seg);
      }
    }
  });
}

}  // namespace cpu
}  // namespace distortx
