// CUDA backend of torch.ops.distortx.batched_nms: checks, the sort by (class, score desc), and the two
// raw kernels of nms_kernel.cu (bitmask + on-device walk) on the current stream. The only host
// synchronisation is the final gather of the kept indices, whose number is data dependent.
#include <cuda_runtime_api.h>
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "boxes/box_checks.h"
#include "boxes/box_launch.h"

namespace distortx {
namespace {

void check_launch(int err, const char* what) {
  TORCH_CHECK(err == 0, "distortx.batched_nms (CUDA): launch of ", what, " failed: ", cudaGetErrorString((cudaError_t)err),
              " (cudaError ", err, ")");
}

at::Tensor batched_nms_cuda(const at::Tensor& boxes_in, const at::Tensor& scores_in, const at::Tensor& idxs_in,
                            double iou_threshold) {
  boxes::check_nms_args(boxes_in, scores_in, idxs_in, iou_threshold, "CUDA");
  TORCH_CHECK(boxes_in.is_cuda(), "distortx.batched_nms (CUDA): boxes must be a CUDA tensor");
  c10::cuda::CUDAGuard guard(boxes_in.device());
  const int64_t n = boxes_in.size(0);
  if (n == 0) return at::empty({0}, boxes_in.options().dtype(at::kLong));
  TORCH_CHECK(n <= 65535LL * 64, "distortx.batched_nms (CUDA): at most ", 65535LL * 64, " boxes, got ", n);
  void* stream = (void*)c10::cuda::getCurrentCUDAStream(boxes_in.device().index()).stream();

  const at::Tensor boxes = boxes_in.contiguous(), scores = scores_in.contiguous(), idxs = idxs_in.contiguous();
  // order by (class asc, score desc, index asc): stable sort by score, then stable sort by class
  const at::Tensor by_score = std::get<1>(scores.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  const at::Tensor by_class = std::get<1>(idxs.index_select(0, by_score).sort(/*stable=*/true, 0, false));
  const at::Tensor order = by_score.index_select(0, by_class);
  const at::Tensor boxes_s = boxes.index_select(0, order).contiguous();
  const at::Tensor cls_s = idxs.index_select(0, order).contiguous();
  const at::Tensor valid_s =
      (boxes_s.isfinite().all(1) & scores.index_select(0, order).isnan().logical_not()).to(at::kByte).contiguous();

  const int64_t col_blocks = (n + 63) / 64;
  at::Tensor mask = at::empty({n * col_blocks}, boxes.options().dtype(at::kLong));
  check_launch(dxb_launch_nms_mask(boxes_s.data_ptr<float>(), cls_s.data_ptr<int64_t>(), n, (float)iou_threshold,
                                   (uint64_t*)mask.data_ptr<int64_t>(), stream),
               "nms_mask");
  at::Tensor keep = at::empty({n}, boxes.options().dtype(at::kByte));
  const int64_t scratch_words = dxb_nms_walk_scratch_words(n);
  at::Tensor remv = scratch_words > 0 ? at::empty({scratch_words}, boxes.options().dtype(at::kLong)) : at::Tensor();
  check_launch(dxb_launch_nms_walk((const uint64_t*)mask.data_ptr<int64_t>(), valid_s.data_ptr<uint8_t>(), n,
                                   keep.data_ptr<uint8_t>(),
                                   scratch_words > 0 ? (uint64_t*)remv.data_ptr<int64_t>() : nullptr, stream),
               "nms_walk");

  // kept indices (host sync for the count), then by (score desc, index asc)
  const at::Tensor kept = std::get<0>(order.masked_select(keep.to(at::kBool)).sort());
  const at::Tensor by = std::get<1>(scores.index_select(0, kept).sort(/*stable=*/true, 0, /*descending=*/true));
  return kept.index_select(0, by);
}

}  // namespace

TORCH_LIBRARY_IMPL(distortx, CUDA, m) { m.impl("batched_nms", &batched_nms_cuda); }

}  // namespace distortx
