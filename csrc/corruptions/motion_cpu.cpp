// ImageNet-C motion blur's (and snow's) sum of shifted copies (distortx/corruptions/common.py shift_taps): per
// sample, out = 0, then out += w[t] * x shifted by (dy[t], dx[t]) with its edges repeated, for the live taps in
// order. torch's add_(other, alpha) is a fused multiply-add in float32 (alpha rounded to float32), so this is fmaf
// in the same order: the same bits, one pass per tap without the padded copy.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>

namespace distortx {
namespace {

// One output row += w * the source row shifted by sx with its edges repeated: o[j] = fmaf(w, row[clamp(j - sx)],
// o[j]). Compiled with FMA where the CPU has it (elsewhere fmaf is a library call: the same bits, slowly).
__attribute__((target_clones("fma", "default"))) void fma_shifted_row(float* __restrict o, float w,
                                                                                const float* __restrict row, int64_t sx,
                                                                                int64_t W) {
  // columns j - sx inside [0, W): [lo, hi); left of it the first column repeats, right of it the last
  const int64_t lo = std::clamp<int64_t>(sx, 0, W), hi = std::max(lo, std::clamp<int64_t>(W + sx, 0, W));
  const float first = row[0], last = row[W - 1];
  for (int64_t j = 0; j < lo; ++j) o[j] = std::fma(w, first, o[j]);
  for (int64_t j = lo; j < hi; ++j) o[j] = std::fma(w, row[j - sx], o[j]);
  for (int64_t j = hi; j < W; ++j) o[j] = std::fma(w, last, o[j]);
}

// x f32 [N, C, H, W]; w f32 [K]; dy, dx i64 [K, N] (shift of tap t for sample n); alive bool [K, N] -> f32.
at::Tensor shift_taps_cpu(const at::Tensor& x_, const at::Tensor& w_, const at::Tensor& dy_, const at::Tensor& dx_,
                          const at::Tensor& alive_) {
  TORCH_CHECK(x_.scalar_type() == at::kFloat && x_.dim() == 4 && x_.device().is_cpu(),
              "distortx.shift_taps: x must be a float32 CPU Tensor[N, C, H, W]");
  const at::Tensor x = x_.contiguous(), w = w_.to(at::kCPU, at::kFloat).contiguous();
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), K = w.numel();
  const at::Tensor dy = dy_.to(at::kCPU, at::kLong).contiguous(), dx = dx_.to(at::kCPU, at::kLong).contiguous();
  const at::Tensor alive = alive_.to(at::kCPU, at::kBool).contiguous();
  TORCH_CHECK(dy.dim() == 2 && dy.size(0) == K && dy.size(1) == N && dx.sizes() == dy.sizes() && alive.sizes() == dy.sizes(),
              "distortx.shift_taps: dy, dx and alive must be Tensor[K, N]");
  at::Tensor out = at::zeros_like(x);
  if (x.numel() == 0) return out;
  const float* in = x.data_ptr<float>();
  const float* wt = w.data_ptr<float>();
  const int64_t *DY = dy.data_ptr<int64_t>(), *DX = dx.data_ptr<int64_t>();
  const bool* A = alive.data_ptr<bool>();
  float* o = out.data_ptr<float>();
  at::parallel_for(0, N * C, 1, [&](int64_t a, int64_t b) {
    for (int64_t p = a; p < b; ++p) {
      const int64_t n = p / C;
      const float* src = in + p * H * W;
      float* dst = o + p * H * W;
      for (int64_t t = 0; t < K && A[t * N + n]; ++t) {
        const int64_t sy = DY[t * N + n], sx = DX[t * N + n];
        for (int64_t y = 0; y < H; ++y)
          fma_shifted_row(dst + y * W, wt[t], src + std::clamp<int64_t>(y - sy, 0, H - 1) * W, sx, W);
      }
    }
  });
  return out;
}

}  // namespace
}  // namespace distortx

TORCH_LIBRARY_IMPL(distortx, CPU, m) { m.impl("shift_taps", &distortx::shift_taps_cpu); }
