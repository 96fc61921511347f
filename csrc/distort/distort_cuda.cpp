// CUDA backend of torch.ops.distortx.distort: checks, planning (shared with the CPU backend), the plan's
// upload, and the launches of the raw kernels in distort_kernel.cu on the current stream.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <cstring>

#include "distort/distort_launch.h"
#include "distort/distort_plan.h"

namespace distortx {
namespace {

void check_launch(int err, const char* what) {
  TORCH_CHECK(err == 0, "distortx.distort (CUDA): launch of ", what, " failed with cudaError ", err);
}

at::Tensor distort_cuda(const at::Tensor& images, const at::Tensor& codes, const at::Tensor& values,
                        const at::Tensor& boxes, const at::Tensor& seeds) {
  dx_check_args(images, codes, values, boxes, seeds);
  TORCH_CHECK(images.is_cuda(), "distortx.distort (CUDA): images must be a CUDA tensor");
  c10::cuda::CUDAGuard guard(images.device());
  void* stream = (void*)c10::cuda::getCurrentCUDAStream(images.device().index()).stream();
  at::Tensor out = at::empty_like(images);
  if (images.numel() == 0) return out;

  auto fill_normal = [stream](at::Tensor o, const at::Tensor& s, uint32_t rs) {
    check_launch(dx_launch_fill_normal(o.data_ptr<float>(), s.data_ptr<int64_t>(), o.size(0), o.size(1), rs, stream),
                 "fill_normal");
  };
  auto mean_luma = [](const at::Tensor& imgs, const std::vector<int64_t>& which, float* out) {
    const int64_t K = (int64_t)which.size();
    at::Tensor sel = imgs.index_select(0, at::tensor(which, at::TensorOptions().dtype(at::kLong)).to(imgs.device()));
    at::Tensor lum = imgs.size(1) == 3
        ? (sel * at::tensor({0.299f, 0.587f, 0.114f}, imgs.options()).reshape({1, 3, 1, 1})).sum(1)
        : sel.select(1, 0);
    at::from_blob(out, {K}, imgs.options()).copy_(lum.mean(at::IntArrayRef{1, 2}));
  };
  DxPlan plan = dx_make_plan(images, codes, values, boxes, seeds, DxBackend{fill_normal, mean_luma});
  if (plan.active == 0) return out.copy_(images);

  // upload regions and pre-pass jobs as bytes in one buffer (pinned staging + async copy on the current stream)
  const int64_t rbytes = (int64_t)(plan.regs.size() * sizeof(DxRegion));
  const int64_t pbytes = (int64_t)(plan.passes.size() * sizeof(DxPass));
  at::Tensor host = at::empty({rbytes + pbytes}, at::TensorOptions().dtype(at::kByte).pinned_memory(true));
  std::memcpy(host.data_ptr<uint8_t>(), plan.regs.data(), rbytes);
  std::memcpy(host.data_ptr<uint8_t>() + rbytes, plan.passes.data(), pbytes);
  at::Tensor dev = host.to(images.device(), /*non_blocking=*/true);

  DxBatch b;
  b.in = images.data_ptr<float>();
  b.out = out.data_ptr<float>();
  b.regs = reinterpret_cast<const DxRegion*>(dev.data_ptr<uint8_t>());
  b.scratch = plan.scratch.data_ptr<float>();
  b.N = (int)images.size(0), b.C = (int)images.size(1), b.H = (int)images.size(2), b.W = (int)images.size(3);
  b.R = (int)codes.size(1);
  if (plan.pass_total > 0) {
    const DxPass* passes = reinterpret_cast<const DxPass*>(dev.data_ptr<uint8_t>() + rbytes);
    check_launch(dx_launch_prepass(b, plan.scratch.data_ptr<float>(), passes, (int)plan.passes.size() - 1,
                                   plan.pass_total, stream), "prepass");
  }
  check_launch(dx_launch_distort(b, stream), "distort");
  return out;
}

}  // namespace
}  // namespace distortx

TORCH_LIBRARY_IMPL(distortx, CUDA, m) { m.impl("distort", &distortx::distort_cuda); }
