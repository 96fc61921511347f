// Plan functions of the noise family (noise.h) and its torch pre-pass, the 1/f field of fnoise.
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "distort/distort_plan.h"

namespace distortx {

void dx_plan_gaussian_noise(DxRegion& g, DxPlanner&) { g.noise.stdv = std::sqrt(std::max(g.v[0], 0.0f)); }

void dx_plan_gaussian_noise_sigma(DxRegion& g, DxPlanner&) { g.noise.stdv = g.v[0] / 255.0f; }

void dx_plan_fnoise(DxRegion&, DxPlanner& p) { p.fnoise_field(); }

// = noise.pink_noise: white noise (stream 1) shaped by 1/sqrt(|k|^2 + 1e-5), normalised per image and channel.
at::Tensor dx_fnoise_fields(const at::Tensor& images, const std::vector<int64_t>& seeds, const DxBackend& backend) {
  const int64_t K = (int64_t)seeds.size(), C = images.size(1), H = images.size(2), W = images.size(3);
  const at::TensorOptions fopt = images.options().dtype(at::kFloat);
  at::Tensor seed_t = at::tensor(seeds, at::TensorOptions().dtype(at::kLong)).to(images.device());
  at::Tensor white = at::empty({K, C * H * W}, fopt);
  backend.fill_normal(white, seed_t, 1u);
  white = white.view({K, C, H, W});
  at::Tensor fy = at::fft_fftfreq(H, 1.0, fopt).reshape({-1, 1});
  at::Tensor fx = at::fft_rfftfreq(W, 1.0, fopt).reshape({1, -1});  // |k| is even: real transforms suffice
  at::Tensor k2 = fy * fy + fx * fx;
  at::Tensor amp = at::where(k2 > 0, (k2 + 1e-5).rsqrt(), at::zeros_like(k2));  // Ahn: 1 / sqrt(f^2 + 1e-5)
  at::Tensor n = at::fft_irfft2(at::fft_rfft2(white) * amp, at::IntArrayRef{H, W});
  n = n - n.mean(at::IntArrayRef{2, 3}, true);
  at::Tensor sd = n.std(at::IntArrayRef{2, 3}, /*unbiased=*/false, /*keepdim=*/true);
  at::Tensor ok = sd > 1e-12;
  return at::where(ok, n / at::where(ok, sd, at::ones_like(sd)), at::zeros_like(n));
}

}  // namespace distortx
