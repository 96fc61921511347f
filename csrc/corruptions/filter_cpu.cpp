// ImageNet-C's 1-D correlation along one axis with scipy.ndimage's borders (distortx/corruptions/common.py
// filter_axis, the body of every gaussian_filter there): out = 0, then out += w[k] * x[border(i + k - r)] for
// k = 0 .. K-1 in that order, in float32 without FMA, so the same bits as the torch loop, in one pass per axis
// instead of K full-tensor multiplies and adds.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

namespace distortx {
namespace {

// border_index: 0 "nearest" (clamp), 1 "reflect" (d c b a | a b c d), 2 "mirror" (d c b | a b c d).
int64_t border(int64_t i, int64_t size, int64_t mode) {
  if (mode == 0 || size == 1) return std::min(std::max<int64_t>(i, 0), size - 1);
  const int64_t period = mode == 1 ? 2 * size : 2 * size - 2;
  int64_t m = i % period;
  if (m < 0) m += period;
  if (m < size) return m;
  return mode == 1 ? period - 1 - m : period - m;
}

// acc[j] += w * src[j], j < n (a loop the compiler vectorises; no contraction: -ffp-contract=off).
__attribute__((target_clones("avx2", "default"))) void axpy(float* __restrict acc, float w, const float* __restrict src,
                                                            int64_t n) {
  for (int64_t j = 0; j < n; ++j) acc[j] = acc[j] + w * src[j];
}

// x float32 viewed as [A, L, B] (L = the filtered axis): out[a, l, :] = sum_k w[k] x[a, border(l + k - r), :].
at::Tensor filter_axis_cpu(const at::Tensor& x_, const at::Tensor& weights_, int64_t dim, int64_t mode) {
  TORCH_CHECK(x_.scalar_type() == at::kFloat && x_.device().is_cpu(), "distortx.filter_axis: x must be a float32 CPU tensor");
  TORCH_CHECK(mode >= 0 && mode <= 2, "distortx.filter_axis: mode 0 (nearest), 1 (reflect) or 2 (mirror)");
  const at::Tensor weights = weights_.to(at::kCPU, at::kFloat).contiguous();
  const int64_t K = weights.numel(), r = (K - 1) / 2;
  TORCH_CHECK(K % 2 == 1, "distortx.filter_axis: weights must have an odd length");
  const int64_t d = dim < 0 ? dim + x_.dim() : dim;
  TORCH_CHECK(d >= 0 && d < x_.dim(), "distortx.filter_axis: dim out of range");
  const at::Tensor x = x_.contiguous();
  at::Tensor out = at::empty_like(x);
  if (x.numel() == 0) return out;
  const int64_t L = x.size(d);
  int64_t A = 1, B = 1;
  for (int64_t i = 0; i < d; ++i) A *= x.size(i);
  for (int64_t i = d + 1; i < x.dim(); ++i) B *= x.size(i);
  const float* w = weights.data_ptr<float>();
  const float* in = x.data_ptr<float>();
  float* o = out.data_ptr<float>();
  std::vector<int64_t> src((size_t)(L + 2 * r));
  for (int64_t t = 0; t < L + 2 * r; ++t) src[t] = border(t - r, L, mode);
  if (B == 1) {  // along the last axis: each line padded once, then K passes over it
    at::parallel_for(0, A, 16, [&](int64_t a0, int64_t a1) {
      std::vector<float> pad((size_t)(L + 2 * r));
      for (int64_t a = a0; a < a1; ++a) {
        const float* line = in + a * L;
        float* acc = o + a * L;
        for (int64_t t = 0; t < L + 2 * r; ++t) pad[t] = line[src[t]];
        std::fill(acc, acc + L, 0.0f);
        for (int64_t k = 0; k < K; ++k) axpy(acc, w[k], pad.data() + k, L);
      }
    });
    return out;
  }
  at::parallel_for(0, A * L, 16, [&](int64_t t0, int64_t t1) {  // along another axis: whole rows of B values
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t a = t / L, l = t % L;
      float* acc = o + t * B;
      std::fill(acc, acc + B, 0.0f);
      for (int64_t k = 0; k < K; ++k) axpy(acc, w[k], in + (a * L + src[l + k]) * B, B);
    }
  });
  return out;
}

}  // namespace
}  // namespace distortx

TORCH_LIBRARY_IMPL(distortx, CPU, m) { m.impl("filter_axis", &distortx::filter_axis_cpu); }
