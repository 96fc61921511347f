// CPU backend of torch.ops.distortx.distort: checks, planning, OpenMP loops over (image, row) calling the
// per-pixel bodies that the CUDA kernel shares (csrc/distort/*.h).
#include <ATen/ATen.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "distort/distort_plan.h"
#include "distort/pixel.h"

namespace distortx {
namespace {

void cpu_fill_normal(at::Tensor out, const at::Tensor& seeds, uint32_t stream) {
  const int64_t K = out.size(0), L = out.size(1);
  float* o = out.data_ptr<float>();
  const int64_t* s = seeds.data_ptr<int64_t>();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t k = 0; k < K; ++k)
    for (int64_t i = 0; i < L; ++i) o[k * L + i] = normal01(s[k], i, stream);
}

at::Tensor distort_cpu(const at::Tensor& images, const at::Tensor& codes, const at::Tensor& values,
                       const at::Tensor& boxes, const at::Tensor& seeds) {
  dx_check_args(images, codes, values, boxes, seeds);
  TORCH_CHECK(images.device().is_cpu(), "distortx.distort (CPU): images must be on the CPU");
  at::Tensor out = at::empty_like(images);
  if (images.numel() == 0) return out;
  DxPlan plan = dx_make_plan(images, codes, values, boxes, seeds, cpu_fill_normal);
  if (plan.active == 0) return out.copy_(images);

  DxBatch b;
  b.in = images.data_ptr<float>();
  b.out = out.data_ptr<float>();
  b.regs = plan.regs.data();
  b.scratch = plan.scratch.data_ptr<float>();
  b.N = (int)images.size(0), b.C = (int)images.size(1), b.H = (int)images.size(2), b.W = (int)images.size(3);
  b.R = (int)codes.size(1);

  const int64_t rows = (int64_t)b.N * b.H, plane = (int64_t)b.H * b.W;
#pragma omp parallel
  {
    std::vector<int> act(b.R);
#pragma omp for schedule(dynamic, 8)
    for (int64_t t = 0; t < rows; ++t) {
      const int n = (int)(t / b.H), y = (int)(t % b.H);
      const DxRegion* regs = b.regs + (int64_t)n * b.R;
      const int64_t base = (int64_t)n * b.C * plane + (int64_t)y * b.W;
      int na = 0;  // regions covering this row, last first (the first hit wins)
      for (int r = b.R - 1; r >= 0; --r)
        if (regs[r].code != DX_NONE && y >= regs[r].y0 && y < regs[r].y1) act[na++] = r;
      for (int c = 0; c < b.C; ++c)
        std::copy(b.in + base + c * plane, b.in + base + c * plane + b.W, b.out + base + c * plane);
      if (na == 0) continue;
      float o[4];
      for (int x = 0; x < b.W; ++x) {
        int win = -1;
        for (int i = 0; i < na; ++i)
          if (x >= regs[act[i]].x0 && x < regs[act[i]].x1) { win = act[i]; break; }
        if (win < 0) continue;
        dx_pixel(b, regs[win], n, y, x, o);
        for (int c = 0; c < b.C; ++c) b.out[base + c * plane + x] = dx_clamp01(o[c]);
      }
    }
  }
  return out;
}

std::vector<int64_t> distort_native_codes() { return dx_native_codes(); }

}  // namespace
}  // namespace distortx

TORCH_LIBRARY_IMPL(distortx, CPU, m) { m.impl("distort", &distortx::distort_cpu); }
TORCH_LIBRARY_IMPL(distortx, CompositeExplicitAutograd, m) {
  m.impl("distort_native_codes", &distortx::distort_native_codes);
}
