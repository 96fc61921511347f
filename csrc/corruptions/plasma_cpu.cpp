// ImageNet-C's plasma fractal (fog, frost's haze): distortx/corruptions/weather.py plasma_fractal, the same
// float64 arithmetic in the same order and the same counter-RNG uniforms (stream 100 + 3 level + phase, element
// i k + j of a level's k x k points), so the same maps bit for bit; one sample per thread, no torch call per level.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "distort/noise.h"

namespace distortx {
namespace {

constexpr uint32_t kPlasmaStream = 100;  // corruptions/common.py PLASMA

// One map, size x size (a power of two), into m (float64, zeroed).
void plasma_one(int64_t seed, int64_t size, double decay, double* m) {
  std::vector<double> corner, dr, out;
  int64_t step = size, level = 0;
  double wibble = 100.0;
  auto at = [&](int64_t y, int64_t x) -> double& { return m[y * size + x]; };
  while (step >= 2) {
    const int64_t half = step / 2, k = size / step;
    // wibbled(a, phase) = a / 4 + wibble * (u * 2 * wibble - wibble), u = uniform(seed, i k + j, stream)
    auto wibbled = [&](double a, int64_t i, int64_t j, uint32_t phase) {
      const uint32_t prefix = dx_bits_prefix(seed, kPlasmaStream + 3u * (uint32_t)level + phase);
      const double u = (double)dx_uniform_at(prefix, (uint32_t)(i * k + j), 0u);
      return a / 4 + wibble * (u * 2 * wibble - wibble);
    };
    corner.resize((size_t)(k * k)), dr.resize((size_t)(k * k));
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < k; ++j) corner[i * k + j] = at(i * step, j * step);
    auto c = [&](int64_t i, int64_t j) { return corner[((i + k) % k) * k + (j + k) % k]; };
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < k; ++j) {
        const double sq = (c(i, j) + c(i + 1, j)) + (c(i, j + 1) + c(i + 1, j + 1));
        at(half + i * step, half + j * step) = dr[i * k + j] = wibbled(sq, i, j, 0);
      }
    auto d = [&](int64_t i, int64_t j) { return dr[((i + k) % k) * k + (j + k) % k]; };
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = 0; j < k; ++j) {
        const double lt = ((d(i, j) + d(i - 1, j)) + c(i, j)) + c(i, j + 1);
        const double tt = ((d(i, j) + d(i, j - 1)) + c(i, j)) + c(i + 1, j);
        at(i * step, half + j * step) = wibbled(lt, i, j, 1);
        at(half + i * step, j * step) = wibbled(tt, i, j, 2);
      }
    step = half, wibble = wibble / decay, ++level;
  }
}

// seeds int64 [N] -> float32 [N, size, size] in [0, 1].
at::Tensor plasma_fractal_cpu(const at::Tensor& seeds_, int64_t size, double decay) {
  TORCH_CHECK(size >= 1 && (size & (size - 1)) == 0 && size <= (1 << 15), "distortx.plasma_fractal: size must be a power of two <= 32768");
  TORCH_CHECK(seeds_.dim() == 1, "distortx.plasma_fractal: seeds must be int64 Tensor[N]");
  const at::Tensor seeds = seeds_.to(at::kCPU, at::kLong).contiguous();
  const int64_t N = seeds.size(0), area = size * size;
  at::Tensor out = at::empty({N, size, size}, seeds.options().dtype(at::kFloat));
  const int64_t* s = seeds.data_ptr<int64_t>();
  float* o = out.data_ptr<float>();
  at::parallel_for(0, N, 1, [&](int64_t a, int64_t b) {
    std::vector<double> m((size_t)area);
    for (int64_t n = a; n < b; ++n) {
      std::fill(m.begin(), m.end(), 0.0);
      plasma_one(s[n], size, decay, m.data());
      const double lo = *std::min_element(m.begin(), m.end());
      double hi = 0.0;
      for (double& v : m) v = v - lo, hi = std::max(hi, v);
      hi = std::max(hi, 1e-12);
      for (int64_t i = 0; i < area; ++i) o[n * area + i] = (float)(m[i] / hi);
    }
  });
  return out;
}

}  // namespace
}  // namespace distortx

TORCH_LIBRARY_IMPL(distortx, CPU, m) { m.impl("plasma_fractal", &distortx::plasma_fractal_cpu); }
