// ImageNet-C's 1-D correlation along one axis with scipy.ndimage's borders (distortx/corruptions/common.py
// filter_axis, the body of every gaussian_filter there): out = 0, then out += w[k] * x[border(i + k - r)] for
// k = 0 .. K-1 in that order, in float32 without FMA, so the same bits as the torch loop, in one pass per axis
// instead of K full-tensor multiplies and adds.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "corruptions/border.h"

namespace distortx {
namespace {

// acc[j] += w * src[j], j < n (a loop the compiler vectorises; no contraction: -ffp-contract=off).
template <typename T>
__attribute__((target_clones("avx2", "default"))) void axpy(T* __restrict acc, T w, const T* __restrict src, int64_t n) {
  for (int64_t j = 0; j < n; ++j) acc[j] = acc[j] + w * src[j];
}

// x viewed as [A, L, B] (L = the filtered axis): out[a, l, :] = sum_k w[k] x[a, border(l + k - r), :], in x's
// floating type (float32 or float64, the weights converted to it as torch's scalar-tensor product does).
template <typename T>
void filter_axis_typed(const at::Tensor& x, const at::Tensor& weights, at::Tensor& out, int64_t d, int64_t mode) {
  const int64_t K = weights.numel(), r = (K - 1) / 2, L = x.size(d);
  int64_t A = 1, B = 1;
  for (int64_t i = 0; i < d; ++i) A *= x.size(i);
  for (int64_t i = d + 1; i < x.dim(); ++i) B *= x.size(i);
  const at::Tensor wt = weights.to(x.scalar_type()).contiguous();
  const T* w = wt.data_ptr<T>();
  const T* in = x.data_ptr<T>();
  T* o = out.data_ptr<T>();
  std::vector<int64_t> src((size_t)(L + 2 * r));
  for (int64_t t = 0; t < L + 2 * r; ++t) src[t] = border_index(t - r, L, mode);
  if (B == 1) {  // along the last axis: each line padded once, then K passes over it
    at::parallel_for(0, A, 16, [&](int64_t a0, int64_t a1) {
      std::vector<T> pad((size_t)(L + 2 * r));
      for (int64_t a = a0; a < a1; ++a) {
        const T* line = in + a * L;
        T* acc = o + a * L;
        for (int64_t t = 0; t < L + 2 * r; ++t) pad[t] = line[src[t]];
        std::fill(acc, acc + L, T(0));
        for (int64_t k = 0; k < K; ++k) axpy<T>(acc, w[k], pad.data() + k, L);
      }
    });
    return;
  }
  at::parallel_for(0, A * L, 16, [&](int64_t t0, int64_t t1) {  // along another axis: whole rows of B values
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t a = t / L, l = t % L;
      T* acc = o + t * B;
      std::fill(acc, acc + B, T(0));
      for (int64_t k = 0; k < K; ++k) axpy<T>(acc, w[k], in + (a * L + src[l + k]) * B, B);
    }
  });
}

at::Tensor filter_axis_cpu(const at::Tensor& x_, const at::Tensor& weights_, int64_t dim, int64_t mode) {
  TORCH_CHECK((x_.scalar_type() == at::kFloat || x_.scalar_type() == at::kDouble) && x_.device().is_cpu(),
              "distortx.filter_axis: x must be a float32 or float64 CPU tensor");
  TORCH_CHECK(mode >= 0 && mode <= 2, "distortx.filter_axis: mode 0 (nearest), 1 (reflect) or 2 (mirror)");
  const at::Tensor weights = weights_.to(at::kCPU).contiguous();
  TORCH_CHECK(weights.numel() % 2 == 1 && weights.is_floating_point(), "distortx.filter_axis: weights must be floats of odd length");
  const int64_t d = dim < 0 ? dim + x_.dim() : dim;
  TORCH_CHECK(d >= 0 && d < x_.dim(), "distortx.filter_axis: dim out of range");
  const at::Tensor x = x_.contiguous();
  at::Tensor out = at::empty_like(x);
  if (x.numel() == 0) return out;
  if (x.scalar_type() == at::kFloat) filter_axis_typed<float>(x, weights, out, d, mode);
  else filter_axis_typed<double>(x, weights, out, d, mode);
  return out;
}

}  // namespace
}  // namespace distortx

TORCH_LIBRARY_IMPL(distortx, CPU, m) { m.impl("filter_axis", &distortx::filter_axis_cpu); }
