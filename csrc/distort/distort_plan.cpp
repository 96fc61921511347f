// Host-side planning of the fused distortion op: argument checks, one DxRegion per (image, region) slot,
// the scratch layout, and the pre-passes that are whole-image tensor maths (done with ATen on the images'
// device): the contrast grey level and the fnoise 1/f field (FFT).
#include "distort/distort_plan.h"

#include <ATen/ATen.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>

namespace distortx {

static bool dx_has_native(int code) {
  switch (code) {
    case DX_GAUSSIAN_NOISE: case DX_GAUSSIAN_NOISE_SIGMA: case DX_MONO_GAUSSIAN_NOISE: case DX_SALT_PEPPER:
    case DX_QUANTIZATION: case DX_CONTRAST: case DX_FNOISE:
      return true;
    default:
      return false;
  }
}

std::vector<int64_t> dx_native_codes() {
  std::vector<int64_t> out;
  for (int c = 1; c < DX_NUM_CODES; ++c)
    if (dx_has_native(c)) out.push_back(c);
  return out;
}

void dx_check_args(const at::Tensor& images, const at::Tensor& codes, const at::Tensor& values,
                   const at::Tensor& boxes, const at::Tensor& seeds) {
  TORCH_CHECK(images.dim() == 4, "distortx.distort: images must be a float32 Tensor[N, C, H, W], got shape ", images.sizes());
  TORCH_CHECK(images.scalar_type() == at::kFloat, "distortx.distort: images must be float32, got ", images.scalar_type());
  TORCH_CHECK(images.size(1) == 1 || images.size(1) == 3, "distortx.distort: images must have 1 or 3 channels, got ", images.size(1));
  TORCH_CHECK(images.is_contiguous(), "distortx.distort: images must be contiguous (call .contiguous())");
  const int64_t N = images.size(0);
  TORCH_CHECK(codes.dim() == 2 && codes.size(0) == N && codes.scalar_type() == at::kInt,
              "distortx.distort: codes must be int32 Tensor[N, R] with N = ", N, ", got ", codes.scalar_type(), " ", codes.sizes());
  const int64_t R = codes.size(1);
  TORCH_CHECK(values.dim() == 3 && values.size(0) == N && values.size(1) == R && values.size(2) <= 4 &&
                  values.scalar_type() == at::kFloat,
              "distortx.distort: values must be float32 Tensor[N, R, P] with P <= 4, N = ", N, ", R = ", R, ", got ",
              values.scalar_type(), " ", values.sizes());
  TORCH_CHECK(boxes.dim() == 3 && boxes.size(0) == N && boxes.size(1) == R && boxes.size(2) == 4 &&
                  boxes.scalar_type() == at::kInt,
              "distortx.distort: boxes must be int32 Tensor[N, R, 4] (x0, y0, x1, y1), got ", boxes.scalar_type(), " ", boxes.sizes());
  TORCH_CHECK(seeds.dim() == 2 && seeds.size(0) == N && seeds.size(1) == R && seeds.scalar_type() == at::kLong,
              "distortx.distort: seeds must be int64 Tensor[N, R], got ", seeds.scalar_type(), " ", seeds.sizes());
  for (const at::Tensor* t : {&codes, &values, &boxes, &seeds})
    TORCH_CHECK(t->device().is_cpu() || t->device() == images.device(),
                "distortx.distort: codes/values/boxes/seeds must be on the CPU or on the images' device ", images.device());
}

DxPlan dx_make_plan(const at::Tensor& images, const at::Tensor& codes_, const at::Tensor& values_,
                    const at::Tensor& boxes_, const at::Tensor& seeds_, const DxFillNormal& fill_normal) {
  const int64_t N = images.size(0), C = images.size(1), H = images.size(2), W = images.size(3);
  const int64_t R = codes_.size(1), P = values_.size(2);
  const at::Tensor codes = codes_.to(at::kCPU).contiguous(), values = values_.to(at::kCPU).contiguous();
  const at::Tensor boxes = boxes_.to(at::kCPU).contiguous(), seeds = seeds_.to(at::kCPU).contiguous();
  const int32_t* cp = codes.data_ptr<int32_t>();
  const float* vp = values.data_ptr<float>();
  const int32_t* bp = boxes.data_ptr<int32_t>();
  const int64_t* sp = seeds.data_ptr<int64_t>();

  DxPlan plan;
  plan.regs.assign(N * R, DxRegion{});
  bool any_contrast = false;
  std::vector<int64_t> fnoise_slots;
  for (int64_t i = 0; i < N * R; ++i) {
    DxRegion& g = plan.regs[i];
    g.code = cp[i];
    TORCH_CHECK(g.code >= 0 && g.code < DX_NUM_CODES, "distortx.distort: unknown distortion code ", g.code, " at region ", i);
    TORCH_CHECK(g.code == DX_NONE || dx_has_native(g.code), "distortx.distort: distortion code ", g.code,
                " has no native kernel in this build (route it to the python path)");
    const int32_t* b = bp + 4 * i;
    g.x0 = std::clamp<int32_t>(b[0], 0, (int32_t)W);
    g.x1 = std::max(g.x0, std::clamp<int32_t>(b[2], 0, (int32_t)W));
    g.y0 = std::clamp<int32_t>(b[1], 0, (int32_t)H);
    g.y1 = std::max(g.y0, std::clamp<int32_t>(b[3], 0, (int32_t)H));
    if (g.x1 <= g.x0 || g.y1 <= g.y0) g.code = DX_NONE;
    g.seed = sp[i];
    g.off = -1;
    for (int64_t j = 0; j < P; ++j) g.v[j] = vp[i * P + j];
    if (g.code == DX_NONE) continue;
    ++plan.active;
    switch (g.code) {
      case DX_GAUSSIAN_NOISE: g.a[0] = std::sqrt(std::max(g.v[0], 0.0f)); break;
      case DX_GAUSSIAN_NOISE_SIGMA: g.a[0] = g.v[0] / 255.0f; break;
      case DX_QUANTIZATION: g.a[0] = std::max(std::nearbyint(g.v[0]) - 1.0f, 1.0f); break;
      case DX_CONTRAST: any_contrast = true; g.off = i / R; break;  // grey level of image n at scratch[n]
      case DX_FNOISE: fnoise_slots.push_back(i); break;
      default: break;
    }
  }

  // scratch layout: [grey levels N] [fnoise fields K x C x H x W] [backend pre-passes]
  const at::TensorOptions fopt = images.options().dtype(at::kFloat);
  int64_t total = 0;
  const int64_t gray_off = total;
  if (any_contrast) total += N;
  const int64_t fnoise_off = total, chw = C * H * W;
  for (size_t k = 0; k < fnoise_slots.size(); ++k) plan.regs[fnoise_slots[k]].off = fnoise_off + (int64_t)k * chw;
  total += (int64_t)fnoise_slots.size() * chw;
  plan.scratch = at::empty({std::max<int64_t>(total, 1)}, fopt);

  if (any_contrast) {  // = tone.mean_luminance: BT.601 luma (RGB) or the channel, averaged over pixels
    at::Tensor lum = C == 3 ? (images * at::tensor({0.299f, 0.587f, 0.114f}, fopt).reshape({1, 3, 1, 1})).sum(1)
                            : images.select(1, 0);
    plan.scratch.narrow(0, gray_off, N).copy_(lum.mean(at::IntArrayRef{1, 2}));
  }
  if (!fnoise_slots.empty()) {  // = noise.pink_noise: white noise (stream 1) shaped by 1/|k|, normalised
    const int64_t K = (int64_t)fnoise_slots.size();
    std::vector<int64_t> kseeds(K);
    for (int64_t k = 0; k < K; ++k) kseeds[k] = sp[fnoise_slots[k]];
    at::Tensor seed_t = at::tensor(kseeds, at::TensorOptions().dtype(at::kLong)).to(images.device());
    at::Tensor white = at::empty({K, chw}, fopt);
    fill_normal(white, seed_t, 1u);
    white = white.view({K, C, H, W});
    at::Tensor fy = at::fft_fftfreq(H, 1.0, fopt).reshape({-1, 1});
    at::Tensor fx = at::fft_fftfreq(W, 1.0, fopt).reshape({1, -1});
    at::Tensor k = at::sqrt(fy * fy + fx * fx);
    at::Tensor pos = k > 0;
    at::Tensor inv = at::where(pos, at::where(pos, k, at::ones_like(k)).reciprocal(), at::zeros_like(k));
    at::Tensor n = at::real(at::fft_ifft2(at::fft_fft2(white) * inv));
    n = n - n.mean(at::IntArrayRef{2, 3}, true);
    at::Tensor sd = n.std(at::IntArrayRef{2, 3}, /*unbiased=*/false, /*keepdim=*/true);
    at::Tensor ok = sd > 1e-12;
    n = at::where(ok, n / at::where(ok, sd, at::ones_like(sd)), at::zeros_like(n));
    plan.scratch.narrow(0, fnoise_off, K * chw).copy_(n.reshape({-1}));
  }
  return plan;
}

}  // namespace distortx
