// ImageNet-C's 1-D correlation along one axis with scipy.ndimage's borders (distortx/corruptions/common.py
// filter_axis, the body of every gaussian_filter there): out = 0, then out += w[k] * x[border(i + k - r)] for
// k = 0 .. K-1 in that order, in x's type without FMA, so the same bits as the torch loop, in one pass per axis
// instead of K full-tensor multiplies and adds, each block of outputs kept in registers across its taps.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "corruptions/border.h"
#include "distort/cpu_rows.h"

namespace distortx {
namespace {

template <typename T>
struct Vec64;  // 64 bytes of T: one AVX-512 register, two AVX2 ones
template <>
struct Vec64<float> { typedef float type __attribute__((vector_size(64))); };
template <>
struct Vec64<double> { typedef double type __attribute__((vector_size(64))); };

// o[j] = (((0 + w[0] src[0][j]) + w[1] src[1][j]) + ...) + w[K-1] src[K-1][j], j < n: a multiply then an add per tap,
// in tap order (the torch loop's rounding). Blocks of four vectors (64 floats / 32 doubles) stay in registers
// across every tap; the scalar tail gives the same bits.
template <typename T>
DX_CLONES_512 void tap_sum_row(T* __restrict o, const T* const* src, const T* w, int64_t K, int64_t n) {
  using V = typename Vec64<T>::type;
  constexpr int64_t L = 64 / sizeof(T);
  int64_t j = 0;
  for (; j + 4 * L <= n; j += 4 * L) {
    V a0 = {}, a1 = {}, a2 = {}, a3 = {};
    for (int64_t k = 0; k < K; ++k) {
      const V wk = V{} + w[k];
      const T* s = src[k] + j;
      V x0, x1, x2, x3;
      std::memcpy(&x0, s, 64), std::memcpy(&x1, s + L, 64), std::memcpy(&x2, s + 2 * L, 64), std::memcpy(&x3, s + 3 * L, 64);
      a0 = a0 + wk * x0, a1 = a1 + wk * x1, a2 = a2 + wk * x2, a3 = a3 + wk * x3;
    }
    std::memcpy(o + j, &a0, 64), std::memcpy(o + j + L, &a1, 64), std::memcpy(o + j + 2 * L, &a2, 64),
        std::memcpy(o + j + 3 * L, &a3, 64);
  }
  for (; j + L <= n; j += L) {
    V a = {};
    for (int64_t k = 0; k < K; ++k) {
      V x;
      std::memcpy(&x, src[k] + j, 64);
      a = a + (V{} + w[k]) * x;
    }
    std::memcpy(o + j, &a, 64);
  }
  for (; j < n; ++j) {
    T a = T(0);
    for (int64_t k = 0; k < K; ++k) a = a + w[k] * src[k][j];
    o[j] = a;
  }
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
  if (B == 1) {  // along the last axis: each line padded once, tap k reads it shifted by k
    at::parallel_for(0, A, 16, [&](int64_t a0, int64_t a1) {
      std::vector<T> pad((size_t)(L + 2 * r));
      std::vector<const T*> taps((size_t)K);
      for (int64_t k = 0; k < K; ++k) taps[k] = pad.data() + k;
      for (int64_t a = a0; a < a1; ++a) {
        const T* line = in + a * L;
        for (int64_t t = 0; t < r; ++t) pad[t] = line[src[t]], pad[L + r + t] = line[src[L + r + t]];  // borders
        std::memcpy(pad.data() + r, line, (size_t)L * sizeof(T));
        tap_sum_row<T>(o + a * L, taps.data(), w, K, L);
      }
    });
    return;
  }
  at::parallel_for(0, A * L, 16, [&](int64_t t0, int64_t t1) {  // along another axis: tap k reads a whole row of B
    std::vector<const T*> taps((size_t)K);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t a = t / L, l = t % L;
      for (int64_t k = 0; k < K; ++k) taps[k] = in + (a * L + src[l + k]) * B;
      tap_sum_row<T>(o + t * B, taps.data(), w, K, B);
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
