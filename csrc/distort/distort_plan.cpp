// Host-side planning of the fused distortion op: argument checks, one DxRegion per (image, region) slot,
// the scratch layout, and the pre-passes that are whole-image tensor maths (done with ATen on the images'
// device): the contrast grey level and the fnoise 1/f field (FFT).
#include "distort/distort_plan.h"

#include "distort/blur.h"

#include <ATen/ATen.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

namespace distortx {

// IJG standard tables (JPEG Annex K), row-major; chroma rows 4..7 are all 99.
static const int kJpegLuma[64] = {16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
                                  14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
                                  18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
                                  49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99};
static const int kJpegChroma[32] = {17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
                                    24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99};

static bool dx_has_native(int code) {
  switch (code) {
    case DX_GAUSSIAN_NOISE: case DX_GAUSSIAN_NOISE_SIGMA: case DX_MONO_GAUSSIAN_NOISE: case DX_SALT_PEPPER:
    case DX_QUANTIZATION: case DX_CONTRAST: case DX_FNOISE: case DX_GAUSSIAN_BLUR: case DX_MOTION_BLUR:
    case DX_LOWPASS: case DX_TWIRL: case DX_MARBLE: case DX_JPEG: case DX_NLM_DENOISE: case DX_MONO_SALT_PEPPER:
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
  TORCH_CHECK(images.size(1) * images.size(2) * images.size(3) < (int64_t(1) << 31),
              "distortx.distort: one image must have fewer than 2^31 elements, got ", images.sizes());
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
                    const at::Tensor& boxes_, const at::Tensor& seeds_, const DxBackend& backend) {
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
  std::vector<int64_t> fnoise_slots, pass_slots;
  std::vector<int64_t> pass_sizes;
  std::vector<float> consts;  // host constants, copied to the start of the scratch buffer
  std::vector<int64_t> pass_floats;  // scratch floats of each pre-pass region (pass_slots order)
  // constants shared by every region that needs the same ones (regions usually come from a few levels):
  // Gaussian weights by sigma (float bits), antialias taps by (axis, downscaled size), JPEG tables by quality
  std::unordered_map<uint32_t, int32_t> blur_consts;
  std::unordered_map<int64_t, int32_t> lowpass_consts;
  int32_t jpeg_consts[101];
  std::fill(jpeg_consts, jpeg_consts + 101, -1);
  auto add_pass = [&](int64_t slot, int64_t elements, int64_t floats) {
    pass_slots.push_back(slot);
    pass_sizes.push_back(elements);
    pass_floats.push_back(floats);
  };
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
      case DX_QUANTIZATION: g.a[0] = std::clamp(std::nearbyint(g.v[0]), 2.0f, 256.0f); break;
      case DX_CONTRAST: any_contrast = true; break;  // grey level of the image: see the scratch layout
      case DX_FNOISE: fnoise_slots.push_back(i); break;
      case DX_GAUSSIAN_BLUR: {  // = blur.gaussian_kernel1d; rows the vertical pass of the box reads
        const double sigma = (double)g.v[0];
        if (sigma < 1e-6) { g.code = DX_IDENTITY; break; }
        const int r = std::max(1, (int)std::ceil(2.0 * sigma));
        uint32_t key;
        std::memcpy(&key, &g.v[0], 4);
        auto found = blur_consts.find(key);
        if (found == blur_consts.end()) {
          std::vector<double> w(2 * r + 1);
          double sum = 0.0;
          for (int k = -r; k <= r; ++k) sum += (w[k + r] = std::exp(-(double)(k * k) / (2.0 * sigma * sigma)));
          found = blur_consts.emplace(key, (int32_t)consts.size()).first;
          for (double wk : w) consts.push_back((float)(wk / sum));
        }
        g.k[0] = r;
        g.k[1] = found->second;
        g.sx0 = g.x0, g.sw = g.x1 - g.x0;
        g.sy0 = std::max<int>(0, g.y0 - r);
        g.sh = std::min<int>((int)H, g.y1 + r) - g.sy0;
        add_pass(i, C * (int64_t)g.sh * g.sw, C * (int64_t)g.sh * g.sw);
        break;
      }
      case DX_MOTION_BLUR: {
        const float L = g.v[0];
        if (L == 0.0f) { g.code = DX_IDENTITY; break; }
        g.k[0] = (int)(std::max(1.0f, std::ceil(L)) + 1.0f);
        const float a = g.v[1] * (float)(M_PI / 180.0);
        g.a[0] = std::cos(a), g.a[1] = std::sin(a);
        break;
      }
      case DX_LOWPASS: {  // = blur.lowpass_one; down cells the box's bilinear upsampling reads
        const double s = (double)g.v[0];
        if (s >= 1.0) { g.code = DX_IDENTITY; break; }
        const int h = std::max(1, (int)std::nearbyint(H * s)), w = std::max(1, (int)std::nearbyint(W * s));  // half to even
        g.k[0] = h, g.k[1] = w;
        g.a[0] = (float)h / (float)H, g.a[1] = (float)w / (float)W;
        for (int axis = 0; axis < 2; ++axis) {  // = blur.antialias_taps: the normalised Gaussian, zero-padded
          const int n_out = axis == 0 ? h : w;
          const double factor = axis == 0 ? (double)H / h : (double)W / w;
          const double sigma = std::max(0.0, (factor - 1.0) / 2.0);
          const int r = sigma > 1e-15 ? (int)(4.0 * sigma + 0.5) : 0;
          auto found = lowpass_consts.find(2 * (int64_t)n_out + axis);
          if (found == lowpass_consts.end()) {
            std::vector<double> gk(2 * r + 1);
            double sum = 0.0;
            for (int d = -r; d <= r; ++d) sum += (gk[d + r] = r > 0 ? std::exp(-0.5 / (sigma * sigma) * (double)d * d) : 1.0);
            found = lowpass_consts.emplace(2 * (int64_t)n_out + axis, (int32_t)consts.size()).first;
            consts.push_back(0.0f);
            for (double v : gk) consts.push_back((float)(v / sum));
            consts.push_back(0.0f);
          }
          g.k[2 + axis] = r;
          g.k[4 + axis] = found->second;
        }
        // mirrored source rows are not monotonic near the borders: take both ends' extremes
        int i0a, i1a, i0b, i1b, j0a, j1a, j0b, j1b;
        float f;
        dx_linear_src(g.y0, g.a[0], h, i0a, i1a, f);
        dx_linear_src(g.y1 - 1, g.a[0], h, i0b, i1b, f);
        dx_linear_src(g.x0, g.a[1], w, j0a, j1a, f);
        dx_linear_src(g.x1 - 1, g.a[1], w, j0b, j1b, f);
        g.sy0 = std::min(i0a, i0b), g.sh = std::max(i1a, i1b) - g.sy0 + 1;
        g.sx0 = std::min(j0a, j0b), g.sw = std::max(j1a, j1b) - g.sx0 + 1;
        add_pass(i, C * (int64_t)g.sh * g.sw, C * (int64_t)g.sh * g.sw);
        break;
      }
      case DX_TWIRL: {
        g.a[0] = g.v[0] * (float)(M_PI / 180.0);
        g.a[1] = g.v[1] * (float)(std::min(H, W) / 2.0);
        g.a[2] = g.v[2] * (float)(W - 1);
        g.a[3] = g.v[3] * (float)(H - 1);
        g.k[0] = (g.a[0] != 0.0f && g.a[1] > 0.0f) ? 1 : 0;
        break;
      }
      case DX_JPEG: {  // 8x8 blocks the box needs: luma under the box, chroma under it +-1 sample (upsampling)
        const int q = (int)std::clamp(std::nearbyint(g.v[0]), 1.0f, 100.0f);
        g.k[0] = q;
        if (jpeg_consts[q] < 0) {  // = jpeg.quant_tables: IJG tables scaled by quality, baseline
          jpeg_consts[q] = (int32_t)consts.size();
          const int scale = q < 50 ? 5000 / q : 200 - 2 * q;
          for (int t = 0; t < 2; ++t)
            for (int idx = 0; idx < 64; ++idx) {
              const int base = t == 0 ? kJpegLuma[idx] : (idx < 32 ? kJpegChroma[idx] : 99);
              consts.push_back((float)std::clamp((base * scale + 50) / 100, 1, 255));
            }
        }
        g.k[5] = jpeg_consts[q];
        g.sy0 = g.y0 / 8, g.sh = (g.y1 - 1) / 8 - g.sy0 + 1;
        g.sx0 = g.x0 / 8, g.sw = (g.x1 - 1) / 8 - g.sx0 + 1;
        int64_t elements = (int64_t)g.sh * g.sw, floats = 64 * elements;
        if (C == 3) {
          const int hc = (int)(H + 1) / 2, wc = (int)(W + 1) / 2;
          const int i0 = std::max(0, g.y0 / 2 - 1), i1 = std::min(hc - 1, (g.y1 - 1) / 2 + 1);
          const int j0 = std::max(0, g.x0 / 2 - 1), j1 = std::min(wc - 1, (g.x1 - 1) / 2 + 1);
          g.k[1] = i0 / 8, g.k[3] = i1 / 8 - g.k[1] + 1;
          g.k[2] = j0 / 8, g.k[4] = j1 / 8 - g.k[2] + 1;
          elements += (int64_t)g.k[3] * g.k[4];        // one element per chroma block position (Cb + Cr)
          floats += 2 * 64 * (int64_t)g.k[3] * g.k[4];
        }
        add_pass(i, elements, floats);
        break;
      }
      case DX_MARBLE: {  // lattice corners under the box: floor(x / scale) .. floor((x1-1) / scale) + 1
        const float scale = g.v[1];
        g.sx0 = (int)std::floor((float)g.x0 / scale), g.sw = (int)std::floor((float)(g.x1 - 1) / scale) + 2 - g.sx0;
        g.sy0 = (int)std::floor((float)g.y0 / scale), g.sh = (int)std::floor((float)(g.y1 - 1) / scale) + 2 - g.sy0;
        add_pass(i, (int64_t)g.sw * g.sh, 2 * (int64_t)g.sw * g.sh);
        break;
      }
      case DX_NLM_DENOISE: {
        if (!(g.v[0] > 0.0f)) { g.code = DX_IDENTITY; break; }  // h = 0: identity (as the reference)
        // one element per box pixel (the CPU's direct body; CUDA runs tiles: dx_launch_plan)
        add_pass(i, (int64_t)(g.y1 - g.y0) * (g.x1 - g.x0), C * (int64_t)(g.y1 - g.y0) * (g.x1 - g.x0));
        break;
      }
      default: break;
    }
  }

  // scratch layout: [host constants] [grey levels N] [fnoise fields K x C x H x W] [pre-pass outputs]
  const at::TensorOptions fopt = images.options().dtype(at::kFloat);
  int64_t total = (int64_t)consts.size();
  const int64_t gray_off = total;
  std::vector<int64_t> gray_images;  // images with a contrast region; grey level k at scratch[gray_off + k]
  if (any_contrast) {
    for (int64_t n = 0; n < N; ++n) {
      bool used = false;
      for (int64_t r = 0; r < R; ++r)
        if (plan.regs[n * R + r].code == DX_CONTRAST) {
          plan.regs[n * R + r].off = gray_off + (int64_t)gray_images.size();
          used = true;
        }
      if (used) gray_images.push_back(n);
    }
    total += (int64_t)gray_images.size();
  }
  const int64_t fnoise_off = total, chw = C * H * W;
  for (size_t k = 0; k < fnoise_slots.size(); ++k) plan.regs[fnoise_slots[k]].off = fnoise_off + (int64_t)k * chw;
  total += (int64_t)fnoise_slots.size() * chw;
  for (size_t k = 0; k < pass_slots.size(); ++k) {
    plan.regs[pass_slots[k]].off = total;
    plan.passes.push_back(DxPass{(int32_t)pass_slots[k], 0, plan.pass_total});
    plan.pass_total += pass_sizes[k];
    total += pass_floats[k];
  }
  plan.passes.push_back(DxPass{-1, 0, plan.pass_total});  // sentinel
  plan.scratch = at::empty({std::max<int64_t>(total, 1)}, fopt);
  if (!consts.empty()) {
    at::Tensor host = at::from_blob(consts.data(), {(int64_t)consts.size()}, at::TensorOptions().dtype(at::kFloat));
    plan.scratch.narrow(0, 0, (int64_t)consts.size()).copy_(host);
  }

  if (any_contrast)  // = tone.mean_luminance
    backend.mean_luma(images, gray_images, plan.scratch.data_ptr<float>() + gray_off);
  if (!fnoise_slots.empty()) {  // = noise.pink_noise: white noise (stream 1) shaped by 1/sqrt(|k|^2 + 1e-5), normalised
    const int64_t K = (int64_t)fnoise_slots.size();
    std::vector<int64_t> kseeds(K);
    for (int64_t k = 0; k < K; ++k) kseeds[k] = sp[fnoise_slots[k]];
    at::Tensor seed_t = at::tensor(kseeds, at::TensorOptions().dtype(at::kLong)).to(images.device());
    at::Tensor white = at::empty({K, chw}, fopt);
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
    n = at::where(ok, n / at::where(ok, sd, at::ones_like(sd)), at::zeros_like(n));
    plan.scratch.narrow(0, fnoise_off, K * chw).copy_(n.reshape({-1}));
  }
  return plan;
}

void dx_mean_luma_aten(const at::Tensor& images, const std::vector<int64_t>& which, float* out) {
  const int64_t K = (int64_t)which.size();
  at::Tensor sel = images.index_select(0, at::tensor(which, at::TensorOptions().dtype(at::kLong)).to(images.device()));
  at::Tensor lum = images.size(1) == 3
      ? (sel * at::tensor({0.299f, 0.587f, 0.114f}, images.options()).reshape({1, 3, 1, 1})).sum(1)
      : sel.select(1, 0);
  at::from_blob(out, {K}, images.options()).copy_(lum.mean(at::IntArrayRef{1, 2}));
}

DxLaunchPlan dx_launch_plan(const DxPlan& plan) {
  static const int kFamilies[] = {DX_GAUSSIAN_BLUR, DX_LOWPASS, DX_JPEG, DX_MARBLE};
  DxLaunchPlan lp;
  auto group_of = [&](int code) -> DxPrepassGroup& {
    int family = 0;
    for (int f : kFamilies)
      if (f == code) family = f;
    for (DxPrepassGroup& grp : lp.groups)
      if (grp.code == family) return grp;
    lp.groups.emplace_back();
    lp.groups.back().code = family;
    return lp.groups.back();
  };
  for (size_t k = 0; k + 1 < plan.passes.size(); ++k) {
    const int32_t slot = plan.passes[k].slot;
    const DxRegion& g = plan.regs[slot];
    if (g.code == DX_NLM_DENOISE) {
      for (int y = g.y0; y < g.y1; y += kNlmTileH)
        for (int x = g.x0; x < g.x1; x += kNlmTileW) lp.nlm_tiles.push_back(DxNlmTile{slot, x, y, 0});
      continue;
    }
    DxPrepassGroup& grp = group_of(g.code);
    grp.passes.push_back(DxPass{slot, 0, grp.total});
    grp.total += plan.passes[k + 1].begin - plan.passes[k].begin;
  }
  for (DxPrepassGroup& grp : lp.groups) grp.passes.push_back(DxPass{-1, 0, grp.total});  // sentinels
  const char* block = std::getenv("DISTORTX_CUDA_NLM_BLOCK");
  if (block != nullptr && std::strcmp(block, "2") == 0) lp.nlm_block = 2;
  return lp;
}

}  // namespace distortx
