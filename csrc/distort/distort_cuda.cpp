// CUDA backend of torch.ops.distortx.distort: checks, planning (shared with the CPU backend), the plan's
// upload, and the launches of the raw kernels in distort_kernel.cu on the current stream. The scalar CPU op
// (distort_scalar_cpu.cpp) runs the same launch plan through the same functions, one element at a time.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <cstring>
#include <vector>

#include "distort/distort_launch.h"
#include "distort/distort_plan.h"

namespace distortx {
namespace {

void check_launch(int err, const char* what) {
  TORCH_CHECK(err == 0, "distortx.distort (CUDA): launch of ", what, " failed: ", dx_cuda_error_string(err), " (cudaError ",
              err, ")");
}

at::Tensor distort_cuda(const at::Tensor& images, const at::Tensor& codes, const at::Tensor& values,
                        const at::Tensor& boxes, const at::Tensor& seeds) {
  dx_check_args(images, codes, values, boxes, seeds);
  TORCH_CHECK(images.scalar_type() == at::kFloat, "distortx.distort (CUDA): images must be float32, got ", images.scalar_type());
  TORCH_CHECK(images.is_cuda(), "distortx.distort (CUDA): images must be a CUDA tensor");
  c10::cuda::CUDAGuard guard(images.device());
  void* stream = (void*)c10::cuda::getCurrentCUDAStream(images.device().index()).stream();
  at::Tensor out = at::empty_like(images);
  if (images.numel() == 0) return out;

  auto fill_normal = [stream](at::Tensor o, const at::Tensor& s, uint32_t rs) {
    check_launch(dx_launch_fill_normal(o.data_ptr<float>(), s.data_ptr<int64_t>(), o.size(0), o.size(1), rs, stream),
                 "fill_normal");
  };
  DxPlan plan = dx_make_plan(images, codes, values, boxes, seeds, DxBackend{fill_normal, dx_mean_luma_aten});
  if (plan.active == 0) return out.copy_(images);
  const DxLaunchPlan lp = dx_launch_plan(plan);

  // upload regions, pre-pass jobs and NL-means tiles as bytes in one buffer (pinned staging + async copy on
  // the current stream); every record is a multiple of 8 bytes
  std::vector<int64_t> group_at;
  int64_t bytes = (int64_t)(plan.regs.size() * sizeof(DxRegion));
  for (const DxPrepassGroup& grp : lp.groups) {
    group_at.push_back(bytes);
    bytes += (int64_t)(grp.passes.size() * sizeof(DxPass));
  }
  const int64_t tiles_at = bytes;
  bytes += (int64_t)(lp.nlm_tiles.size() * sizeof(DxNlmTile));
  at::Tensor host = at::empty({bytes}, at::TensorOptions().dtype(at::kByte).pinned_memory(true));
  uint8_t* h = host.data_ptr<uint8_t>();
  std::memcpy(h, plan.regs.data(), plan.regs.size() * sizeof(DxRegion));
  for (size_t k = 0; k < lp.groups.size(); ++k)
    std::memcpy(h + group_at[k], lp.groups[k].passes.data(), lp.groups[k].passes.size() * sizeof(DxPass));
  if (!lp.nlm_tiles.empty()) std::memcpy(h + tiles_at, lp.nlm_tiles.data(), lp.nlm_tiles.size() * sizeof(DxNlmTile));
  at::Tensor dev = host.to(images.device(), /*non_blocking=*/true);
  const uint8_t* d = dev.data_ptr<uint8_t>();

  const DxBatch b = dx_batch(images, out, codes.size(1), plan, reinterpret_cast<const DxRegion*>(d));
  float* scratch = plan.scratch.data_ptr<float>();
  for (size_t k = 0; k < lp.groups.size(); ++k) {
    const DxPrepassGroup& grp = lp.groups[k];
    check_launch(dx_launch_prepass(grp.code, b, scratch, reinterpret_cast<const DxPass*>(d + group_at[k]),
                                   (int)grp.passes.size() - 1, grp.total, stream),
                 "prepass");
  }
  check_launch(dx_launch_nlm(b, scratch, reinterpret_cast<const DxNlmTile*>(d + tiles_at), (int64_t)lp.nlm_tiles.size(),
                             lp.nlm_block, stream),
               "nlm");
  check_launch(dx_launch_distort(b, stream), "distort");
  return out;
}

// out[n, i] = rng.normal(seeds[n], i, stream) on the seeds' device (the CPU op's bits: the same dx_normal, -fmad=false).
at::Tensor normal_fill_cuda(const at::Tensor& seeds_, int64_t numel, int64_t stream) {
  TORCH_CHECK(seeds_.dim() == 1 && seeds_.scalar_type() == at::kLong && seeds_.is_cuda(),
              "distortx.normal_fill (CUDA): seeds must be an int64 CUDA Tensor[N]");
  TORCH_CHECK(numel >= 0 && stream >= 0 && stream < (int64_t(1) << 31), "distortx.normal_fill: numel >= 0, 0 <= stream < 2^31");
  c10::cuda::CUDAGuard guard(seeds_.device());
  const at::Tensor seeds = seeds_.contiguous();
  at::Tensor out = at::empty({seeds.size(0), numel}, seeds.options().dtype(at::kFloat));
  void* cs = (void*)c10::cuda::getCurrentCUDAStream(seeds.device().index()).stream();
  check_launch(dx_launch_fill_normal(out.data_ptr<float>(), seeds.data_ptr<int64_t>(), out.size(0), out.size(1),
                                     (uint32_t)stream, cs), "fill_normal");
  return out;
}

}  // namespace
}  // namespace distortx

TORCH_LIBRARY_IMPL(distortx, CUDA, m) {
  m.impl("distort", &distortx::distort_cuda);
  m.impl("normal_fill", &distortx::normal_fill_cuda);
}
