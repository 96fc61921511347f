// CUDA backend of torch.ops.distortx.ssd_postprocess: checks, allocation and the three raw kernels of
// ssd_postprocess_kernel.cu on the current stream. No host synchronisation and only shape-dependent
// allocations, so the op can be captured in a CUDA graph.
#include <cuda_runtime_api.h>
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <tuple>

#include "boxes/box_checks.h"
#include "boxes/box_launch.h"

namespace distortx {
namespace {

void check_launch(int err, const char* what) {
  TORCH_CHECK(err == 0, "distortx.ssd_postprocess (CUDA): launch of ", what, " failed: ", cudaGetErrorString((cudaError_t)err),
              " (cudaError ", err, ")");
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> ssd_postprocess_cuda(
    const at::Tensor& loc_in, const at::Tensor& scores_in, const at::Tensor& priors_in, at::ArrayRef<double> variances,
    double score_threshold, double iou_threshold, int64_t topk_per_class, int64_t max_detections, bool apply_softmax,
    int64_t background_class) {
  boxes::check_ssd_args(loc_in, scores_in, priors_in, variances, score_threshold, iou_threshold, topk_per_class,
                        max_detections, background_class, "CUDA");
  TORCH_CHECK(loc_in.is_cuda(), "distortx.ssd_postprocess (CUDA): loc must be a CUDA tensor");
  const int64_t B = loc_in.size(0), P = loc_in.size(1), K = scores_in.size(2), M = max_detections;
  TORCH_CHECK(M < (1LL << 31) && B * K < (1LL << 31), "distortx.ssd_postprocess (CUDA): too many detections/classes");
  c10::cuda::CUDAGuard guard(loc_in.device());
  const auto opts = loc_in.options();
  if (B == 0 || P == 0 || K == 0 || M == 0) {
    return {at::zeros({B, M, 4}, opts), at::zeros({B, M}, opts), at::full({B, M}, -1, opts.dtype(at::kLong)),
            at::zeros({B}, opts.dtype(at::kLong))};
  }
  void* stream = (void*)c10::cuda::getCurrentCUDAStream(loc_in.device().index()).stream();
  const at::Tensor loc = loc_in.contiguous(), scores = scores_in.contiguous(), priors = priors_in.contiguous();
  const int64_t T = std::min(topk_per_class, P);

  at::Tensor boxes = at::empty({B, P, 4}, opts);
  at::Tensor probT = at::empty({B, K, P}, opts);
  check_launch(dxb_launch_ssd_prepare(loc.data_ptr<float>(), scores.data_ptr<float>(), priors.data_ptr<float>(), B, P,
                                      K, (float)variances[0], (float)variances[1], apply_softmax,
                                      boxes.data_ptr<float>(), probT.data_ptr<float>(), stream),
               "ssd_prepare");

  at::Tensor kept = at::empty({B, K, T}, opts.dtype(at::kLong));
  at::Tensor kept_n = at::empty({B, K}, opts.dtype(at::kInt));
  at::Tensor workspace;
  if (dxb_ssd_class_needs_global(T)) workspace = at::empty({B * K * dxb_ssd_class_bytes(T)}, opts.dtype(at::kByte));
  check_launch(dxb_launch_ssd_classes(probT.data_ptr<float>(), boxes.data_ptr<float>(), B, P, K, background_class,
                                      (float)score_threshold, (float)iou_threshold, T,
                                      (uint64_t*)kept.data_ptr<int64_t>(), kept_n.data_ptr<int32_t>(),
                                      workspace.defined() ? workspace.data_ptr<uint8_t>() : nullptr, stream),
               "ssd_classes");

  at::Tensor out_boxes = at::empty({B, M, 4}, opts);
  at::Tensor out_scores = at::empty({B, M}, opts);
  at::Tensor out_labels = at::empty({B, M}, opts.dtype(at::kLong));
  at::Tensor out_counts = at::empty({B}, opts.dtype(at::kLong));
  check_launch(dxb_launch_ssd_merge((const uint64_t*)kept.data_ptr<int64_t>(), kept_n.data_ptr<int32_t>(),
                                    probT.data_ptr<float>(), boxes.data_ptr<float>(), B, P, K, T, M,
                                    out_boxes.data_ptr<float>(), out_scores.data_ptr<float>(),
                                    out_labels.data_ptr<int64_t>(), out_counts.data_ptr<int64_t>(), stream),
               "ssd_merge");
  return {out_boxes, out_scores, out_labels, out_counts};
}

}  // namespace

TORCH_LIBRARY_IMPL(distortx, CUDA, m) { m.impl("ssd_postprocess", &ssd_postprocess_cuda); }

}  // namespace distortx
