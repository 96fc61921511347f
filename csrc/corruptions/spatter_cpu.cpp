// ImageNet-C spatter's loops over its edge map (distortx/corruptions/weather.py canny / distance_to), in C++:
//   canny_candidates  OpenCV's Canny up to hysteresis (Sobel, magnitude, direction, non-maximum suppression), in
//                  integers: the torch code's strong and weak pixels;
//   hysteresis     weak edges kept when 8-connected to a strong one through weak pixels in at most `steps` steps
//                  (a breadth-first search by depth: the pixels the torch code's `steps` dilations reach);
//   edge_distance  the Euclidean distance to the nearest edge pixel, capped at `limit`: the torch code's two
//                  separable passes of min(g + d^2) over |d| <= limit (integers, exact in float32; the pass along x
//                  as two sweeps for each row's nearest edge), then ATen's sqrt.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdlib>
#include <tuple>
#include <vector>

namespace distortx {
namespace {

// strong, weak: bool [N, H, W] -> bool [N, H, W].
at::Tensor hysteresis_cpu(const at::Tensor& strong_, const at::Tensor& weak_, int64_t steps) {
  TORCH_CHECK(strong_.scalar_type() == at::kBool && weak_.scalar_type() == at::kBool && strong_.dim() == 3 &&
                  strong_.sizes() == weak_.sizes(),
              "distortx.hysteresis: strong and weak must be bool Tensor[N, H, W] of one shape");
  TORCH_CHECK(steps >= 0, "distortx.hysteresis: steps >= 0");
  const at::Tensor strong = strong_.contiguous(), weak = weak_.contiguous();
  const int64_t N = strong.size(0), H = strong.size(1), W = strong.size(2), area = H * W;
  at::Tensor out = strong.clone();
  const bool* wk = weak.data_ptr<bool>();
  bool* o = out.data_ptr<bool>();
  at::parallel_for(0, N, 1, [&](int64_t a, int64_t b) {
    std::vector<int64_t> frontier, next;
    for (int64_t n = a; n < b; ++n) {
      bool* e = o + n * area;
      const bool* w = wk + n * area;
      frontier.clear();
      for (int64_t p = 0; p < area; ++p)
        if (e[p]) frontier.push_back(p);
      for (int64_t depth = 0; depth < steps && !frontier.empty(); ++depth) {
        next.clear();
        for (const int64_t p : frontier) {
          const int64_t y = p / W, x = p % W;
          for (int64_t dy = -1; dy <= 1; ++dy)
            for (int64_t dx = -1; dx <= 1; ++dx) {
              const int64_t yy = y + dy, xx = x + dx;
              if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
              const int64_t q = yy * W + xx;
              if (w[q] && !e[q]) e[q] = true, next.push_back(q);
            }
        }
        frontier.swap(next);
      }
    }
  });
  return out;
}

// OpenCV's Canny (aperture 3, L1 gradient) up to hysteresis, in integers (distortx/corruptions/weather.py canny):
// levels [N, H, W] (float or integer tensor holding 0..255) -> (strong, weak) bool [N, H, W]: the non-maximum-
// suppressed magnitudes above high / above low. Sobel with replicated borders, |gx| + |gy|, the direction by
// OpenCV's fixed-point tan(22.5) / tan(67.5) tests, 0 outside the image.
std::tuple<at::Tensor, at::Tensor> canny_candidates_cpu(const at::Tensor& levels_, double low, double high) {
  TORCH_CHECK(levels_.dim() == 3, "distortx.canny_candidates: levels must be Tensor[N, H, W]");
  const at::Tensor levels = levels_.to(at::kInt).contiguous();
  const int64_t N = levels.size(0), H = levels.size(1), W = levels.size(2), area = H * W;
  at::Tensor strong = at::zeros({N, H, W}, levels.options().dtype(at::kBool));
  at::Tensor weak = at::zeros({N, H, W}, levels.options().dtype(at::kBool));
  if (levels.numel() == 0) return {strong, weak};
  const int32_t* v = levels.data_ptr<int32_t>();
  bool* st = strong.data_ptr<bool>();
  bool* wk = weak.data_ptr<bool>();
  constexpr int kShift = 15;
  const int64_t tg22 = (int64_t)(0.4142135623730950488016887242097 * (1 << kShift) + 0.5);
  at::parallel_for(0, N, 1, [&](int64_t a, int64_t b) {
    std::vector<int32_t> gx((size_t)area), gy((size_t)area), mag((size_t)((H + 2) * (W + 2)), 0);
    for (int64_t n = a; n < b; ++n) {
      const int32_t* p = v + n * area;
      auto at_ = [&](int64_t y, int64_t x) {
        return p[std::clamp<int64_t>(y, 0, H - 1) * W + std::clamp<int64_t>(x, 0, W - 1)];
      };
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) {
          const int32_t tl = at_(y - 1, x - 1), tc = at_(y - 1, x), tr = at_(y - 1, x + 1), ml = at_(y, x - 1),
                        mr = at_(y, x + 1), bl = at_(y + 1, x - 1), bc = at_(y + 1, x), br = at_(y + 1, x + 1);
          const int32_t dx = (tr - tl) + 2 * (mr - ml) + (br - bl), dy = (bl - tl) + 2 * (bc - tc) + (br - tr);
          gx[y * W + x] = dx, gy[y * W + x] = dy;
          mag[(y + 1) * (W + 2) + x + 1] = std::abs(dx) + std::abs(dy);
        }
      bool* sn = st + n * area;
      bool* wn = wk + n * area;
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) {
          const int64_t i = y * W + x, c = (y + 1) * (W + 2) + x + 1;
          const int32_t m = mag[c];
          if (!(m > low)) continue;
          const int64_t ax = std::abs(gx[i]), ys = (int64_t)std::abs(gy[i]) << kShift, tg22x = ax * tg22;
          bool keep;
          if (ys < tg22x) {
            keep = m > mag[c - 1] && m >= mag[c + 1];
          } else if (ys > tg22x + (ax << (kShift + 1))) {
            keep = m > mag[c - (W + 2)] && m >= mag[c + (W + 2)];
          } else {
            const int64_t s = ((gx[i] < 0) != (gy[i] < 0)) ? -1 : 1;
            keep = m > mag[c - (W + 2) - s] && m > mag[c + (W + 2) + s];
          }
          if (keep) wn[i] = true, sn[i] = m > high;
        }
    }
  });
  return {strong, weak};
}

// edges: bool [N, H, W] -> float32 [N, H, W].
at::Tensor edge_distance_cpu(const at::Tensor& edges_, int64_t limit) {
  TORCH_CHECK(edges_.scalar_type() == at::kBool && edges_.dim() == 3, "distortx.edge_distance: edges must be bool Tensor[N, H, W]");
  TORCH_CHECK(limit >= 1 && limit <= 4096, "distortx.edge_distance: 1 <= limit <= 4096");
  const at::Tensor edges = edges_.contiguous();
  const int64_t N = edges.size(0), H = edges.size(1), W = edges.size(2), area = H * W;
  at::Tensor out = at::empty({N, H, W}, edges.options().dtype(at::kFloat));
  const bool* e = edges.data_ptr<bool>();
  float* o = out.data_ptr<float>();
  const float big = (float)(limit * limit * 4 + 1);
  at::parallel_for(0, N, 1, [&](int64_t a, int64_t b) {
    std::vector<float> best((size_t)area);
    std::vector<int64_t> left((size_t)W);
    for (int64_t n = a; n < b; ++n) {
      const bool* en = e + n * area;
      // along x: min over |d| <= limit of g[x + d] + d^2 with g = 0 on edges, big elsewhere, is the squared
      // distance to the row's nearest edge when that is within limit, else g[x] = big: two sweeps find it
      for (int64_t y = 0; y < H; ++y) {
        const bool* row = en + y * W;
        float* bst = best.data() + y * W;
        int64_t last = -1;
        for (int64_t x = 0; x < W; ++x) {
          if (row[x]) last = x;
          left[x] = last < 0 ? -1 : x - last;
        }
        last = -1;
        for (int64_t x = W - 1; x >= 0; --x) {
          if (row[x]) last = x;
          int64_t d = left[x];
          if (last >= 0 && (d < 0 || last - x < d)) d = last - x;
          bst[x] = (d >= 0 && d <= limit) ? (float)(d * d) : big;
        }
      }
      // along y: the torch code's min over |d| <= limit of best[y + d] + d^2, a row at a time (vectorised in x)
      float* on = o + n * area;
      for (int64_t y = 0; y < H; ++y) {
        float* m = on + y * W;
        std::copy(best.data() + y * W, best.data() + (y + 1) * W, m);
        for (int64_t d = 1; d <= limit; ++d) {
          const float dd = (float)(d * d);
          if (y - d >= 0) {
            const float* up = best.data() + (y - d) * W;
            for (int64_t x = 0; x < W; ++x) m[x] = std::min(m[x], up[x] + dd);
          }
          if (y + d < H) {
            const float* down = best.data() + (y + d) * W;
            for (int64_t x = 0; x < W; ++x) m[x] = std::min(m[x], down[x] + dd);
          }
        }
      }
    }
  });
  // the square root by ATen's kernel, as the torch code takes it (its vectorised sqrt is not always IEEE's)
  return at::sqrt(out).clamp_max_((double)limit);
}

}  // namespace
}  // namespace distortx

TORCH_LIBRARY_IMPL(distortx, CPU, m) {
  m.impl("canny_candidates", &distortx::canny_candidates_cpu);
  m.impl("hysteresis", &distortx::hysteresis_cpu);
  m.impl("edge_distance", &distortx::edge_distance_cpu);
}
