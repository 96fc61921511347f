// CPU backend of torch.ops.distortx.batched_nms (per-class greedy NMS).
//
// Valid boxes (four finite coordinates, score not NaN) are ordered by (class, score desc, index asc); each
// class segment runs greedy NMS (a kept box suppresses every later box of its class with IoU > threshold,
// IoU in float32 as in box_math.h); segments run in parallel (OpenMP). The kept indices are returned sorted
// by (score desc, index asc). The reference is distortx.ops.nms.batched_nms_reference.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "boxes/box_checks.h"
#include "boxes/box_math.h"

namespace distortx {
namespace {

using namespace boxes;

at::Tensor batched_nms_cpu(const at::Tensor& boxes_in, const at::Tensor& scores_in, const at::Tensor& idxs_in,
                           double iou_threshold) {
  check_nms_args(boxes_in, scores_in, idxs_in, iou_threshold, "CPU");
  const int64_t n = boxes_in.size(0);
  if (n == 0) return at::empty({0}, boxes_in.options().dtype(at::kLong));
  const at::Tensor boxes = boxes_in.contiguous(), scores = scores_in.contiguous(), idxs = idxs_in.contiguous();
  const float* bp = boxes.data_ptr<float>();
  const float* sp = scores.data_ptr<float>();
  const int64_t* cp = idxs.data_ptr<int64_t>();
  const float thr = (float)iou_threshold;

  std::vector<int64_t> order;
  order.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    const float* b = bp + 4 * i;
    if (finite_f(b[0]) && finite_f(b[1]) && finite_f(b[2]) && finite_f(b[3]) && !std::isnan(sp[i])) order.push_back(i);
  }
  std::sort(order.begin(), order.end(), [cp, sp](int64_t i, int64_t j) {
    if (cp[i] != cp[j]) return cp[i] < cp[j];
    if (sp[i] != sp[j]) return sp[i] > sp[j];
    return i < j;
  });
  const int64_t m = (int64_t)order.size();

  std::vector<int64_t> seg;  // class segment starts, then m
  for (int64_t k = 0; k < m; ++k)
    if (k == 0 || cp[order[k]] != cp[order[k - 1]]) seg.push_back(k);
  const int64_t nseg = (int64_t)seg.size();
  seg.push_back(m);

  std::vector<float> x1(m), y1(m), x2(m), y2(m), area(m);
  std::vector<uint8_t> supp(m, 0);
  for (int64_t k = 0; k < m; ++k) {
    const float* b = bp + 4 * order[k];
    x1[k] = b[0], y1[k] = b[1], x2[k] = b[2], y2[k] = b[3];
    area[k] = box_area(b[0], b[1], b[2], b[3]);
  }
#pragma omp parallel for schedule(dynamic, 1) if (nseg > 1 && m > 1024)
  for (int64_t s = 0; s < nseg; ++s)
    greedy_nms(x1.data(), y1.data(), x2.data(), y2.data(), area.data(), supp.data(), seg[s], seg[s + 1], thr,
               [](int64_t) {});

  std::vector<int64_t> kept;
  for (int64_t k = 0; k < m; ++k)
    if (!supp[k]) kept.push_back(order[k]);
  std::sort(kept.begin(), kept.end(), [sp](int64_t i, int64_t j) {
    if (sp[i] != sp[j]) return sp[i] > sp[j];
    return i < j;
  });
  at::Tensor out = at::empty({(int64_t)kept.size()}, boxes_in.options().dtype(at::kLong));
  std::copy(kept.begin(), kept.end(), out.data_ptr<int64_t>());
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(distortx, CPU, m) { m.impl("batched_nms", &batched_nms_cpu); }

}  // namespace distortx
