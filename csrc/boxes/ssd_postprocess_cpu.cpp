// CPU backend of torch.ops.distortx.ssd_postprocess: decode + (softmax) + per-class threshold + top-k + NMS
// + per-image cap, with static-shape padded outputs. Three OpenMP phases:
//   1. every (image, prior): decode the box, softmax the logits, write class-major scores (box_math.h);
//   2. every (image, class): candidates score > threshold, top-k by (score desc, prior asc), greedy NMS;
//   3. every image: merge the kept lists by (score desc, class asc, prior asc), keep max_detections.
// The reference is distortx.ops.ssd_postprocess.ssd_postprocess_reference; the CUDA twin is
// ssd_postprocess_kernel.cu (same order, same float ops).
#include <ATen/ATen.h>
#include <torch/library.h>

#include <algorithm>
#include <tuple>
#include <vector>

#include "boxes/box_checks.h"
#include "boxes/box_math.h"

namespace distortx {
namespace {

using namespace boxes;

struct Det {
  uint32_t score_key;
  int32_t cls;
  uint32_t prior;
};

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> ssd_postprocess_cpu(
    const at::Tensor& loc_in, const at::Tensor& scores_in, const at::Tensor& priors_in, at::ArrayRef<double> variances,
    double score_threshold, double iou_threshold, int64_t topk_per_class, int64_t max_detections, bool apply_softmax,
    int64_t background_class) {
  check_ssd_args(loc_in, scores_in, priors_in, variances, score_threshold, iou_threshold, topk_per_class,
                 max_detections, background_class, "CPU");
  const int64_t B = loc_in.size(0), P = loc_in.size(1), K = scores_in.size(2), M = max_detections;
  const auto opts = loc_in.options();
  at::Tensor out_boxes = at::zeros({B, M, 4}, opts);
  at::Tensor out_scores = at::zeros({B, M}, opts);
  at::Tensor out_labels = at::full({B, M}, -1, opts.dtype(at::kLong));
  at::Tensor out_counts = at::zeros({B}, opts.dtype(at::kLong));
  if (B == 0 || P == 0 || K == 0 || M == 0) return {out_boxes, out_scores, out_labels, out_counts};

  const at::Tensor loc = loc_in.contiguous(), scores = scores_in.contiguous(), priors = priors_in.contiguous();
  const float* lp = loc.data_ptr<float>();
  const float* sp = scores.data_ptr<float>();
  const float* pp = priors.data_ptr<float>();
  const float v0 = (float)variances[0], v1 = (float)variances[1];
  const float sthr = (float)score_threshold, ithr = (float)iou_threshold;
  const int64_t T = std::min(topk_per_class, P);

  // phase 1: decoded boxes [B, P, 4] and class-major scores [B, K, P]
  std::vector<float> boxes((size_t)(B * P * 4)), probT((size_t)(B * K * P));
#pragma omp parallel for schedule(static) if (B * P * K > 4096)
  for (int64_t bp = 0; bp < B * P; ++bp)
    ssd_prepare_one(lp, sp, pp, bp / P, bp % P, P, K, v0, v1, apply_softmax, boxes.data(), probT.data());

  // phase 2: per (image, class) kept keys, sorted by (score desc, prior asc)
  std::vector<uint64_t> kept((size_t)(B * K * T));
  std::vector<int64_t> kept_n((size_t)(B * K), 0);
#pragma omp parallel
  {
    std::vector<uint64_t> cand;
    std::vector<float> x1, y1, x2, y2, area;
    std::vector<uint8_t> supp;
#pragma omp for schedule(dynamic, 1)
    for (int64_t g = 0; g < B * K; ++g) {
      const int64_t b = g / K, c = g % K;
      if (c == background_class) continue;
      const float* s = probT.data() + g * P;
      cand.clear();
      for (int64_t p = 0; p < P; ++p)
        if (s[p] > sthr) cand.push_back(candidate_key(s[p], (uint32_t)p));
      auto desc = [](uint64_t a, uint64_t z) { return a > z; };
      if ((int64_t)cand.size() > T) {
        std::nth_element(cand.begin(), cand.begin() + (T - 1), cand.end(), desc);
        cand.resize(T);
      }
      std::sort(cand.begin(), cand.end(), desc);
      const int64_t n = (int64_t)cand.size();
      x1.resize(n), y1.resize(n), x2.resize(n), y2.resize(n), area.resize(n);
      supp.assign(n, 0);
      for (int64_t i = 0; i < n; ++i) {
        const float* bb = boxes.data() + (b * P + key_index(cand[i])) * 4;
        x1[i] = bb[0], y1[i] = bb[1], x2[i] = bb[2], y2[i] = bb[3];
        area[i] = box_area(bb[0], bb[1], bb[2], bb[3]);
      }
      int64_t r = 0;
      uint64_t* out = kept.data() + g * T;
      greedy_nms(x1.data(), y1.data(), x2.data(), y2.data(), area.data(), supp.data(), 0, n, ithr,
                 [&](int64_t i) { out[r++] = cand[i]; });
      kept_n[g] = r;
    }
  }

  // phase 3: per image, merge by (score desc, class asc, prior asc) and cap
  float* ob = out_boxes.data_ptr<float>();
  float* os = out_scores.data_ptr<float>();
  int64_t* ol = out_labels.data_ptr<int64_t>();
  int64_t* oc = out_counts.data_ptr<int64_t>();
#pragma omp parallel
  {
    std::vector<Det> dets;
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < B; ++b) {
      dets.clear();
      for (int64_t c = 0; c < K; ++c) {
        const uint64_t* ks = kept.data() + (b * K + c) * T;
        for (int64_t r = 0; r < kept_n[b * K + c]; ++r)
          dets.push_back({key_score(ks[r]), (int32_t)c, key_index(ks[r])});
      }
      const int64_t n = std::min<int64_t>((int64_t)dets.size(), M);
      std::partial_sort(dets.begin(), dets.begin() + n, dets.end(), [](const Det& a, const Det& z) {
        if (a.score_key != z.score_key) return a.score_key > z.score_key;
        if (a.cls != z.cls) return a.cls < z.cls;
        return a.prior < z.prior;
      });
      for (int64_t k = 0; k < n; ++k) {
        const Det& d = dets[k];
        const float* bb = boxes.data() + (b * P + d.prior) * 4;
        std::copy(bb, bb + 4, ob + (b * M + k) * 4);
        os[b * M + k] = probT[(b * K + d.cls) * P + d.prior];
        ol[b * M + k] = d.cls;
      }
      oc[b] = n;
    }
  }
  return {out_boxes, out_scores, out_labels, out_counts};
}

}  // namespace

TORCH_LIBRARY_IMPL(distortx, CPU, m) { m.impl("ssd_postprocess", &ssd_postprocess_cpu); }

}  // namespace distortx
