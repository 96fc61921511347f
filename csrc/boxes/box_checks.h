// Argument checks shared by the CPU and CUDA backends of the box ops (torch glue only; never in a .cu file).
#pragma once
#include <ATen/ATen.h>

#include <limits>

namespace distortx {
namespace boxes {

inline void check_nms_args(const at::Tensor& boxes, const at::Tensor& scores, const at::Tensor& idxs,
                           double iou_threshold, const char* backend) {
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(1) == 4, "distortx.batched_nms (", backend,
              "): boxes must be [N, 4] (x1, y1, x2, y2), got ", boxes.sizes());
  TORCH_CHECK(scores.dim() == 1 && scores.size(0) == boxes.size(0), "distortx.batched_nms (", backend,
              "): scores must be [N] with N = boxes.size(0) = ", boxes.size(0), ", got ", scores.sizes());
  TORCH_CHECK(idxs.dim() == 1 && idxs.size(0) == boxes.size(0), "distortx.batched_nms (", backend,
              "): idxs must be [N] with N = boxes.size(0) = ", boxes.size(0), ", got ", idxs.sizes());
  TORCH_CHECK(boxes.scalar_type() == at::kFloat && scores.scalar_type() == at::kFloat, "distortx.batched_nms (",
              backend, "): boxes and scores must be float32, got ", boxes.scalar_type(), " and ", scores.scalar_type());
  TORCH_CHECK(idxs.scalar_type() == at::kLong, "distortx.batched_nms (", backend, "): idxs must be int64, got ",
              idxs.scalar_type());
  TORCH_CHECK(scores.device() == boxes.device() && idxs.device() == boxes.device(), "distortx.batched_nms (",
              backend, "): boxes, scores and idxs must be on one device");
  TORCH_CHECK(!std::isnan(iou_threshold), "distortx.batched_nms (", backend, "): iou_threshold is NaN");
  TORCH_CHECK(boxes.size(0) < std::numeric_limits<int32_t>::max(), "distortx.batched_nms (", backend,
              "): at most 2^31 - 1 boxes");
}

inline void check_ssd_args(const at::Tensor& loc, const at::Tensor& scores, const at::Tensor& priors,
                           at::ArrayRef<double> variances, double score_threshold, double iou_threshold,
                           int64_t topk_per_class, int64_t max_detections, int64_t background_class,
                           const char* backend) {
  TORCH_CHECK(loc.dim() == 3 && loc.size(2) == 4, "distortx.ssd_postprocess (", backend,
              "): loc must be [B, P, 4], got ", loc.sizes());
  TORCH_CHECK(scores.dim() == 3 && scores.size(0) == loc.size(0) && scores.size(1) == loc.size(1),
              "distortx.ssd_postprocess (", backend, "): scores must be [B, P, K] with B, P of loc ", loc.sizes(),
              ", got ", scores.sizes());
  TORCH_CHECK(priors.dim() == 2 && priors.size(0) == loc.size(1) && priors.size(1) == 4,
              "distortx.ssd_postprocess (", backend, "): priors must be [P, 4] (cx, cy, w, h) with P = ",
              loc.size(1), ", got ", priors.sizes());
  TORCH_CHECK(loc.scalar_type() == at::kFloat && scores.scalar_type() == at::kFloat &&
                  priors.scalar_type() == at::kFloat,
              "distortx.ssd_postprocess (", backend, "): loc, scores and priors must be float32");
  TORCH_CHECK(scores.device() == loc.device() && priors.device() == loc.device(), "distortx.ssd_postprocess (",
              backend, "): loc, scores and priors must be on one device");
  TORCH_CHECK(variances.size() == 2, "distortx.ssd_postprocess (", backend, "): variances must have 2 values");
  TORCH_CHECK(!std::isnan(score_threshold) && !std::isnan(iou_threshold), "distortx.ssd_postprocess (", backend,
              "): thresholds must not be NaN");
  TORCH_CHECK(topk_per_class >= 1, "distortx.ssd_postprocess (", backend, "): topk_per_class must be >= 1, got ",
              topk_per_class);
  TORCH_CHECK(max_detections >= 0, "distortx.ssd_postprocess (", backend, "): max_detections must be >= 0, got ",
              max_detections);
  TORCH_CHECK(background_class >= -1 && background_class < std::max<int64_t>(scores.size(2), 1),
              "distortx.ssd_postprocess (", backend, "): background_class must be -1 (none) or a class index < K = ",
              scores.size(2), ", got ", background_class);
  TORCH_CHECK(loc.size(1) < std::numeric_limits<int32_t>::max() && scores.size(2) < (1 << 20) &&
                  loc.size(0) < (1 << 20),
              "distortx.ssd_postprocess (", backend, "): at most 2^31 - 1 priors, 2^20 classes and 2^20 images");
}

}  // namespace boxes
}  // namespace distortx
