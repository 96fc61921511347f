// ImageNet-C zoom blur's sum (distortx/corruptions/blur.py zoom_blur) and clipped_zoom's one zoom (common.py, for
// snow's flakes): x + the bilinear centre zooms of x for each factor, in the torch code's float32 arithmetic
// (linear_sample with "nearest" borders: top = t00 (1 - fx) + t01 fx, bottom likewise, top (1 - fy) + bottom fy; the
// zooms added to x in factor order), so the same bits. A zoom is computed row-interpolation first: each source row a
// zoom reads is interpolated along x once (that row's `top` or `bottom`), then every output row is one lerp of two
// such rows.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <tuple>
#include <vector>

namespace distortx {
namespace {

struct Lerp {
  int64_t i0, i1;  // the two sources, clamped into the image
  float f;         // the weight of i1 (the coordinate's fraction)
};

std::vector<Lerp> lerps(const float* coord, int64_t n, int64_t size) {
  std::vector<Lerp> out((size_t)n);
  for (int64_t k = 0; k < n; ++k) {
    const float c0 = std::floor(coord[k]);
    const int64_t i = (int64_t)c0;
    out[k] = Lerp{std::clamp<int64_t>(i, 0, size - 1), std::clamp<int64_t>(i + 1, 0, size - 1), coord[k] - c0};
  }
  return out;
}

// The zooms of x (source coordinates ay f32 [F, H], ax f32 [F, W]) into out, plane by plane: out += each zoom in
// factor order when `accumulate` (zoom blur's sum), else out = the one zoom (F == 1; clipped_zoom).
template <bool accumulate>
void zooms_into(const at::Tensor& x, const at::Tensor& ay, const at::Tensor& ax, at::Tensor& out) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), area = H * W;
  const int64_t F = ay.size(0);
  std::vector<std::vector<Lerp>> rows((size_t)F), cols((size_t)F);
  for (int64_t f = 0; f < F; ++f)
    rows[f] = lerps(ay.data_ptr<float>() + f * H, H, H), cols[f] = lerps(ax.data_ptr<float>() + f * W, W, W);
  const float* in = x.data_ptr<float>();
  float* o = out.data_ptr<float>();
  at::parallel_for(0, N * C, 1, [&](int64_t a, int64_t b) {
    std::vector<float> across((size_t)area);    // a source row interpolated along x, per source row
    std::vector<int64_t> done((size_t)H, -1);   // which zoom each row of `across` holds
    for (int64_t t = a; t < b; ++t) {
      const float* p = in + t * area;
      float* acc = o + t * area;
      std::fill(done.begin(), done.end(), -1);
      for (int64_t f = 0; f < F; ++f) {
        const std::vector<Lerp>& cx = cols[f];
        auto row_at = [&](int64_t r) -> const float* {
          float* h = across.data() + r * W;
          if (done[r] != f) {
            const float* src = p + r * W;
            for (int64_t k = 0; k < W; ++k) h[k] = src[cx[k].i0] * (1.0f - cx[k].f) + src[cx[k].i1] * cx[k].f;
            done[r] = f;
          }
          return h;
        };
        for (int64_t y = 0; y < H; ++y) {
          const Lerp& ry = rows[f][y];
          const float *top = row_at(ry.i0), *bottom = row_at(ry.i1);
          const float wt = 1.0f - ry.f, wb = ry.f;
          float* dst = acc + y * W;
          if constexpr (accumulate) {
            for (int64_t k = 0; k < W; ++k) dst[k] = dst[k] + (top[k] * wt + bottom[k] * wb);
          } else {
            for (int64_t k = 0; k < W; ++k) dst[k] = top[k] * wt + bottom[k] * wb;
          }
        }
      }
    }
  });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> checked(const at::Tensor& x_, const at::Tensor& ay_, const at::Tensor& ax_,
                                                       const char* op) {
  TORCH_CHECK(x_.scalar_type() == at::kFloat && x_.dim() == 4 && x_.device().is_cpu(),
              "distortx.", op, ": x must be a float32 CPU Tensor[N, C, H, W]");
  const at::Tensor ay = ay_.to(at::kCPU, at::kFloat).contiguous(), ax = ax_.to(at::kCPU, at::kFloat).contiguous();
  TORCH_CHECK(ay.dim() == 2 && ax.dim() == 2 && ay.size(0) == ax.size(0) && ay.size(1) == x_.size(2) &&
                  ax.size(1) == x_.size(3),
              "distortx.", op, ": ay must be Tensor[F, H] and ax Tensor[F, W]");
  return {x_.contiguous(), ay, ax};
}

// x f32 [N, C, H, W]; ay f32 [F, H], ax f32 [F, W]: the source coordinates of each zoom -> f32 [N, C, H, W].
at::Tensor zoom_blur_sum_cpu(const at::Tensor& x_, const at::Tensor& ay_, const at::Tensor& ax_) {
  auto [x, ay, ax] = checked(x_, ay_, ax_, "zoom_blur_sum");
  at::Tensor out = x.clone();
  if (x.numel() > 0) zooms_into<true>(x, ay, ax, out);
  return out;
}

// clipped_zoom: x f32 [N, C, H, W]; ay f32 [1, H], ax f32 [1, W] -> the zoom, f32 [N, C, H, W] (linear_sample's
// bits with "nearest" borders, each source row interpolated once).
at::Tensor zoom_sample_cpu(const at::Tensor& x_, const at::Tensor& ay_, const at::Tensor& ax_) {
  auto [x, ay, ax] = checked(x_, ay_, ax_, "zoom_sample");
  TORCH_CHECK(ay.size(0) == 1, "distortx.zoom_sample: one zoom (ay Tensor[1, H], ax Tensor[1, W])");
  at::Tensor out = at::empty_like(x);
  if (x.numel() > 0) zooms_into<false>(x, ay, ax, out);
  return out;
}

}  // namespace
}  // namespace distortx

TORCH_LIBRARY_IMPL(distortx, CPU, m) {
  m.impl("zoom_blur_sum", &distortx::zoom_blur_sum_cpu);
  m.impl("zoom_sample", &distortx::zoom_sample_cpu);
}
