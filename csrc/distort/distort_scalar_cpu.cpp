// CPU implementation of torch.ops.distortx.distort_scalar (private; same schema as distort): the CUDA
// backend's work run on the CPU, element by element, through the functions its kernels call. The same
// planner and launch plan (dx_make_plan, dx_launch_plan), the same pre-pass hooks (the white noise drawn
// one element at a time with dx_normal as fill_normal_kernel does, the mean luminance with ATen), each
// pre-pass family through dx_prepass_t<code> as prepass_kernel<code>, NL-means tile by tile as nlm_kernel
// (dx_nlm_window_fill, then dx_nlm_tile_thread for every thread of the block), and every output pixel
// through dx_output_pixel_c<C> with the kernel's index maths (dx_div). OpenMP over elements, tiles and images.
//
// Why: the fast CPU path (distort_cpu.cpp, <family>_cpu.cpp) re-implements most codes as vectorised row loops, so it does not
// test the bodies the GPU runs; tests/test_native_scalar.py compares this op with it and with the Python
// reference. CUDA compiles these bodies with -fmad=false (setup.py), so the GPU computes the same bits as this
// op; what may differ is ATen's own reductions and FFTs on the device (contrast's grey level, fnoise's field)
// and libm's cosf/sinf against CUDA's (marble's lattice gradients).
#include <ATen/ATen.h>
#include <torch/library.h>

#include <vector>

#include "distort/distort_plan.h"
#include "distort/pixel.h"

namespace distortx {
namespace {

// = fill_normal_kernel: out[k, i] = dx_normal(seeds[k], i, stream).
void scalar_fill_normal(at::Tensor out, const at::Tensor& seeds, uint32_t stream) {
  const int64_t K = out.size(0), L = out.size(1);
  float* o = out.data_ptr<float>();
  const int64_t* s = seeds.data_ptr<int64_t>();
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < K; ++k)
    for (int64_t i = 0; i < L; ++i) o[k * L + i] = dx_normal(s[k], i, stream);
}

// = prepass_kernel<kCode>: elements [0, total) of one family's job list.
template <int kCode>
void run_prepass(const DxBatch& b, float* scratch, const DxPrepassGroup& grp) {
  const int np = (int)grp.passes.size() - 1;
#pragma omp parallel for schedule(dynamic, 64)
  for (int64_t t = 0; t < grp.total; ++t) dx_prepass_t<kCode>(b, scratch, grp.passes.data(), np, t);
}

// = nlm_kernel<kC, kK>: per tile, the window copy, then every thread (column, run) of the block.
template <int kC, int kK>
void run_nlm(const DxBatch& b, float* scratch, const std::vector<DxNlmTile>& tiles) {
#pragma omp parallel
  {
    std::vector<float> win((size_t)kC * kNlmWinH * kNlmWinW);
#pragma omp for schedule(dynamic, 1)
    for (int64_t i = 0; i < (int64_t)tiles.size(); ++i) {
      const DxNlmTile& t = tiles[i];
      const float* img = b.in + (int64_t)(t.slot / b.R) * kC * b.H * b.W;
      for (int e = 0; e < (int)win.size(); ++e) dx_nlm_window_fill(img, kC, b.H, b.W, t.x0, t.y0, win.data(), e);
      for (int run = 0; run < kNlmTileH / kNlmRun; ++run)
        for (int lx = 0; lx < kNlmTileW; ++lx) dx_nlm_tile_thread<kC, kK>(b.regs[t.slot], t, win.data(), lx, run, scratch);
    }
  }
}

// = distort_kernel<kC>: pixel index p of image n -> (y, x) by dx_div, then dx_output_pixel_c.
template <int kC>
void run_main(const DxBatch& b) {
  const DxFastDiv wdiv = dx_fast_div((uint32_t)b.W);
  const uint32_t hw = (uint32_t)b.H * (uint32_t)b.W;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t n = 0; n < b.N; ++n) {
    const DxRegion* regs = b.regs + n * b.R;
    for (uint32_t p = 0; p < hw; ++p) {
      const uint32_t y = dx_div(wdiv, p);
      dx_output_pixel_c<kC>(b, regs, (int)n, (int)y, (int)(p - y * (uint32_t)b.W));
    }
  }
}

at::Tensor distort_scalar_cpu(const at::Tensor& images, const at::Tensor& codes, const at::Tensor& values,
                              const at::Tensor& boxes, const at::Tensor& seeds) {
  dx_check_args(images, codes, values, boxes, seeds);
  TORCH_CHECK(images.scalar_type() == at::kFloat, "distortx.distort_scalar: images must be float32, got ", images.scalar_type());
  TORCH_CHECK(images.device().is_cpu(), "distortx.distort_scalar: images must be on the CPU");
  at::Tensor out = at::empty_like(images);
  if (images.numel() == 0) return out;
  DxPlan plan = dx_make_plan(images, codes, values, boxes, seeds, DxBackend{scalar_fill_normal, dx_mean_luma_aten});
  if (plan.active == 0) return out.copy_(images);
  const DxLaunchPlan lp = dx_launch_plan(plan);

  const DxBatch b = dx_batch(images, out, codes.size(1), plan, plan.regs.data());
  float* scratch = plan.scratch.data_ptr<float>();
  for (const DxPrepassGroup& grp : lp.groups) {
    switch (grp.code) {  // = dx_launch_prepass: one instantiation per code
#define DX_SCALAR_PREPASS(NAME, ...) \
  case DX_##NAME: run_prepass<DX_##NAME>(b, scratch, grp); break;
      DX_CODE_TABLE(DX_SCALAR_PREPASS)
#undef DX_SCALAR_PREPASS
      default: run_prepass<0>(b, scratch, grp); break;
    }
  }
  if (!lp.nlm_tiles.empty()) {
    if (b.C == 3) {
      if (lp.nlm_block == 2) run_nlm<3, 2>(b, scratch, lp.nlm_tiles); else run_nlm<3, 4>(b, scratch, lp.nlm_tiles);
    } else {
      if (lp.nlm_block == 2) run_nlm<1, 2>(b, scratch, lp.nlm_tiles); else run_nlm<1, 4>(b, scratch, lp.nlm_tiles);
    }
  }
  if (b.C == 3) run_main<3>(b); else run_main<1>(b);  // C is 1 or 3 (dx_check_args)
  return out;
}

}  // namespace
}  // namespace distortx

TORCH_LIBRARY_IMPL(distortx, CPU, m) { m.impl("distort_scalar", &distortx::distort_scalar_cpu); }
