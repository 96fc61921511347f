// CPU backend of torch.ops.distortx.distort: checks, planning, then OpenMP loops over pre-pass jobs and over
// (image, row) segments. A row is cut into segments with one winning region each; a segment runs its code's
// row function (cpu_rows.h, <family>_cpu.cpp: the shared bodies' arithmetic as vectorised channel-planar
// loops, element for element in the same order) or, for a code without one, its per-pixel body (pixel.h).
#include <ATen/ATen.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdlib>
#include <vector>

#include "distort/cpu_rows.h"
#include "distort/distort_plan.h"

namespace distortx {
namespace cpu {
namespace {

// ---- pre-pass jobs: a contiguous range of one region's pre-pass elements, a blur row, an NL-means band, or a
// lowpass channel
struct Job {
  int32_t slot;
  int32_t kind;    // 0 = elements [e0, e1) through dx_prepass_elem, 1 = blur row (e0 = first element), 2 = NLM band,
                   // 3 = lowpass channel e0
  int64_t e0, e1;  // kind 2: box rows [e0, e1)
};

DX_CLONES void prepass_elems(const DxBatch& b, float* scratch, int32_t slot, int64_t e0, int64_t e1) {
  for (int64_t e = e0; e < e1; ++e) dx_prepass_elem(b, scratch, slot, e);
}

// ---- main pass, one row segment [xa, xb) of image n's row y owned by region g ----------------------------------
DX_CLONES void row_segment(const DxBatch& b, const DxRegion& g, int n, int y, int xa, int xb, RowTmp& t) {
  switch (g.code) {
    case DX_GAUSSIAN_NOISE:
    case DX_GAUSSIAN_NOISE_SIGMA: return row_gaussian_noise(b, g, n, y, xa, xb, t);
    case DX_MONO_GAUSSIAN_NOISE: return row_mono_gaussian_noise(b, g, n, y, xa, xb, t);
    case DX_SALT_PEPPER: return row_salt_pepper(b, g, n, y, xa, xb, t);
    case DX_MONO_SALT_PEPPER: return row_mono_salt_pepper(b, g, n, y, xa, xb, t);
    case DX_QUANTIZATION: return row_quantization(b, g, n, y, xa, xb, t);
    case DX_CONTRAST: return row_contrast(b, g, n, y, xa, xb, t);
    case DX_FNOISE: return row_fnoise(b, g, n, y, xa, xb, t);
    case DX_GAUSSIAN_BLUR: return row_gaussian_blur(b, g, n, y, xa, xb, t);
    case DX_MOTION_BLUR: return row_motion_blur(b, g, n, y, xa, xb, t);
    case DX_LOWPASS: return row_lowpass(b, g, n, y, xa, xb, t);
    case DX_TWIRL:
      if (row_twirl(b, g, n, y, xa, xb, t)) return;
      break;
    case DX_MARBLE: return row_marble(b, g, n, y, xa, xb, t);
    case DX_JPEG: return row_jpeg(b, g, n, y, xa, xb, t);
    case DX_NLM_DENOISE: return row_nlm(b, g, n, y, xa, xb, t);
    default: break;
  }
  // per-pixel bodies (identity, codes without a row function, the twirl's copy case)
  const int C = b.C, W = b.W;
  const int64_t plane = (int64_t)b.H * W, ib = (int64_t)n * C * plane;
  float o[4];
  for (int x = xa; x < xb; ++x) {
    dx_pixel(b, g, n, y, x, o);
    for (int c = 0; c < C; ++c) b.out[ib + c * plane + (int64_t)y * W + x] = dx_clamp01(o[c]);
  }
}

}  // namespace

at::Tensor distort_cpu(const at::Tensor& images, const at::Tensor& codes, const at::Tensor& values,
                       const at::Tensor& boxes, const at::Tensor& seeds) {
  dx_check_args(images, codes, values, boxes, seeds);
  TORCH_CHECK(images.device().is_cpu(), "distortx.distort (CPU): images must be on the CPU");
  if (images.scalar_type() == at::kByte) return distort_u8(images, codes, values, boxes, seeds);
  at::Tensor out = at::empty_like(images);
  if (images.numel() == 0) return out;
  DxPlan plan = dx_make_plan(images, codes, values, boxes, seeds, DxBackend{cpu_fill_normal, cpu_mean_luma});
  if (plan.active == 0) return out.copy_(images);

  const DxBatch b = dx_batch(images, out, codes.size(1), plan, plan.regs.data());

  if (plan.pass_total > 0) {  // pre-passes: blur rows, lowpass cells, JPEG blocks, marble lattice, NL-means
    float* scratch = plan.scratch.data_ptr<float>();
    // NL-means runs as row bands unless DISTORTX_NLM_DIRECT=1 asks for the CUDA kernel's per-pixel body
    const char* direct_env = std::getenv("DISTORTX_NLM_DIRECT");
    const bool nlm_direct = direct_env != nullptr && direct_env[0] == '1';
    // lowpass runs as separable channel jobs unless DISTORTX_LOWPASS_CELLS=1 asks for the CUDA per-cell body
    const char* cells_env = std::getenv("DISTORTX_LOWPASS_CELLS");
    const bool lowpass_cells = cells_env != nullptr && cells_env[0] == '1';
    std::vector<Job> jobs;
    for (size_t k = 0; k + 1 < plan.passes.size(); ++k) {
      const int32_t slot = plan.passes[k].slot;
      const DxRegion& g = plan.regs[slot];
      const int64_t size = plan.passes[k + 1].begin - plan.passes[k].begin;
      if (g.code == DX_NLM_DENOISE && !nlm_direct) {
        for (int ya = g.y0; ya < g.y1; ya += kNlmBand) jobs.push_back(Job{slot, 2, ya, std::min(g.y1, ya + kNlmBand)});
      } else if (g.code == DX_GAUSSIAN_BLUR) {
        for (int64_t e = 0; e < size; e += g.sw) jobs.push_back(Job{slot, 1, e, e + g.sw});
      } else if (g.code == DX_LOWPASS && !lowpass_cells) {
        for (int c = 0; c < b.C; ++c) jobs.push_back(Job{slot, 3, c, c + 1});
      } else {
        const int64_t chunk = g.code == DX_JPEG ? 4 : (g.code == DX_NLM_DENOISE || g.code == DX_LOWPASS ? 8 : 256);
        for (int64_t e = 0; e < size; e += chunk) jobs.push_back(Job{slot, 0, e, std::min(size, e + chunk)});
      }
    }
    // JPEG reads 8-bit samples: every image with a JPEG region converted once, not once per block and channel
    std::vector<int64_t> sample_at(b.N, -1);
    int64_t sample_bytes = 0;
    const int64_t chw = (int64_t)b.C * b.H * b.W;
    for (size_t k = 0; k + 1 < plan.passes.size(); ++k) {
      const int64_t n = plan.passes[k].slot / b.R;
      if (plan.regs[plan.passes[k].slot].code == DX_JPEG && sample_at[n] < 0) sample_at[n] = sample_bytes, sample_bytes += chw;
    }
    std::vector<uint8_t> samples((size_t)sample_bytes);
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t n = 0; n < b.N; ++n)
      if (sample_at[n] >= 0) float_to_bytes(b.in + n * chw, chw, samples.data() + sample_at[n]);
#pragma omp parallel
    {
      std::vector<float> pad;
#pragma omp for schedule(dynamic, 1)
      for (int64_t i = 0; i < (int64_t)jobs.size(); ++i) {
        const Job& j = jobs[i];
        if (j.kind == 0 && b.regs[j.slot].code == DX_JPEG) {
          jpeg_blocks(b, scratch, j.slot, j.e0, j.e1, samples.data() + sample_at[j.slot / b.R]);
        } else if (j.kind == 3) {
          lowpass_channel(b, scratch, j.slot, (int)j.e0);
        } else if (j.kind == 2) {
          nlm_band(b, scratch, j.slot, (int)j.e0, (int)j.e1);
        } else if (j.kind == 1) {
          const float* img = b.in + (int64_t)(j.slot / b.R) * b.C * b.H * b.W;
          blur_row(b.regs[j.slot], scratch, img, b.H, b.W, j.e0, pad);
        } else {
          prepass_elems(b, scratch, j.slot, j.e0, j.e1);
        }
      }
    }
  }

  const int64_t rows = (int64_t)b.N * b.H, plane = (int64_t)b.H * b.W;
#pragma omp parallel
  {
    std::vector<int> act(b.R);
    std::vector<int> cuts(2 * b.R + 2);
    RowTmp tmp;
    tmp.reserve(b.W);
#pragma omp for schedule(dynamic, 4)
    for (int64_t t = 0; t < rows; ++t) {
      const int n = (int)(t / b.H), y = (int)(t % b.H);
      const DxRegion* regs = b.regs + (int64_t)n * b.R;
      const int64_t base = (int64_t)n * b.C * plane + (int64_t)y * b.W;
      int na = 0;  // regions covering this row, last first (the first hit wins)
      for (int r = b.R - 1; r >= 0; --r)
        if (regs[r].code != DX_NONE && y >= regs[r].y0 && y < regs[r].y1) act[na++] = r;
      // the winner is constant between consecutive box edges: cut the row there
      int nc = 0;
      cuts[nc++] = 0;
      cuts[nc++] = b.W;
      for (int i = 0; i < na; ++i) cuts[nc++] = regs[act[i]].x0, cuts[nc++] = regs[act[i]].x1;
      std::sort(cuts.begin(), cuts.begin() + nc);
      for (int k = 0; k + 1 < nc; ++k) {
        const int xa = cuts[k], xb = cuts[k + 1];
        if (xa == xb) continue;
        int win = -1;
        for (int i = 0; i < na; ++i)
          if (xa >= regs[act[i]].x0 && xa < regs[act[i]].x1) { win = act[i]; break; }
        if (win < 0) {
          for (int c = 0; c < b.C; ++c) std::copy(b.in + base + c * plane + xa, b.in + base + c * plane + xb, b.out + base + c * plane + xa);
        } else {
          row_segment(b, regs[win], n, y, xa, xb, tmp);
        }
      }
    }
  }
  return out;
}

}  // namespace cpu
}  // namespace distortx

TORCH_LIBRARY_IMPL(distortx, CPU, m) { m.impl("distort", &distortx::cpu::distort_cpu); }
