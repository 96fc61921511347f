// ImageNet-C glass blur's local pixel shuffle as a source map (distortx/corruptions/blur.py, shuffle_permutation):
// rows r = H - delta .. delta + 1 and columns c = W - delta .. delta + 1, both descending, each position given the
// current source of the position at its random offset, `iterations` times in order. The loop is sequential (a
// position may read one written earlier in the same sweep), so it runs as written: ~100k steps for a 224-px image,
// the whole map (draws included) ~3 ms instead of ~100 ms in Python.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <algorithm>

namespace distortx {
namespace {

// offsets int64 [iterations, count, 2] (dx, dy in [-delta, delta)), count = (H - 2 delta) (W - 2 delta) ->
// int64 [H * W]: new[p] = old[source[p]].
at::Tensor glass_shuffle_map_cpu(const at::Tensor& offsets_, int64_t H, int64_t W, int64_t delta) {
  TORCH_CHECK(H >= 1 && W >= 1 && delta >= 1, "distortx.glass_shuffle_map: H, W >= 1 and delta >= 1");
  const int64_t rows = std::max<int64_t>(H - 2 * delta, 0), cols = std::max<int64_t>(W - 2 * delta, 0);
  TORCH_CHECK(offsets_.dim() == 3 && offsets_.size(1) == rows * cols && offsets_.size(2) == 2,
              "distortx.glass_shuffle_map: offsets must be int64 Tensor[iterations, ", rows * cols, ", 2]");
  const at::Tensor offsets = offsets_.to(at::kCPU, at::kLong).contiguous();
  at::Tensor map = at::arange(H * W, offsets.options());
  int64_t* src = map.data_ptr<int64_t>();
  const int64_t* off = offsets.data_ptr<int64_t>();
  const int64_t n = offsets.numel();
  for (int64_t k = 0; k < n; ++k)
    TORCH_CHECK(off[k] >= -delta && off[k] < delta,
                "distortx.glass_shuffle_map: offsets must lie in [-delta, delta), got ", off[k]);
  for (int64_t it = 0; it < offsets.size(0); ++it) {
    const int64_t* o = off + it * rows * cols * 2;
    for (int64_t r = H - delta; r > delta; --r)
      for (int64_t c = W - delta; c > delta; --c, o += 2) src[r * W + c] = src[(r + o[1]) * W + c + o[0]];
  }
  return map;
}

}  // namespace
}  // namespace distortx

TORCH_LIBRARY_IMPL(distortx, CPU, m) { m.impl("glass_shuffle_map", &distortx::glass_shuffle_map_cpu); }
