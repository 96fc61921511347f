// Launchers of the box-op CUDA kernels (nms_kernel.cu, ssd_postprocess_kernel.cu). Plain C++: no torch and
// no CUDA headers, so the torch glue (*_cuda.cpp) and the raw kernels compile separately.
// Every launcher is asynchronous on `stream` (a cudaStream_t passed as void*) and returns the cudaError_t
// of its launch as an int (0 = success). All pointers are device pointers.
#pragma once
#include <stdint.h>

namespace distortx {

// ---- batched NMS (bitmask) ---------------------------------------------------------------------------
// Boxes are pre-sorted by (class asc, score desc); col_blocks = ceil(n / 64).
// mask[i * col_blocks + cb] bit t = box cb*64+t (> i) has the class of box i and IoU(i, cb*64+t) > thr.
// Only the upper block triangle (cb >= i / 64) is written; tiles whose class ranges cannot meet are zeroed.
int dxb_launch_nms_mask(const float* boxes, const int64_t* cls, int64_t n, float thr, uint64_t* mask, void* stream);

// One thread block walks the mask in order, writing keep[i] = 1 for kept boxes (valid[i] != 0 and not
// suppressed by an earlier kept box), 0 otherwise; no host synchronisation. `remv` is col_blocks words of
// scratch when dxb_nms_walk_scratch_words(n) > 0 (too many blocks for shared memory), else may be null.
int64_t dxb_nms_walk_scratch_words(int64_t n);
int dxb_launch_nms_walk(const uint64_t* mask, const uint8_t* valid, int64_t n, uint8_t* keep, uint64_t* remv,
                        void* stream);

// ---- fused SSD post-processing -----------------------------------------------------------------------
// Stage 1: boxes [B, P, 4] (decoded xyxy) and probT [B, K, P] from loc [B, P, 4], scores [B, P, K],
// priors [P, 4] (see ssd_prepare_one in box_math.h).
int dxb_launch_ssd_prepare(const float* loc, const float* scores, const float* priors, int64_t B, int64_t P,
                           int64_t K, float v0, float v1, bool softmax, float* boxes, float* probT, void* stream);

// Stage 2: one block per (image, class): candidates probT > score_thr, the top T = min(topk, P) by
// (score desc, prior asc), greedy NMS; kept keys (box_math.h candidate_key) in order into
// kept[(b*K + c) * T + r], their number into kept_n[b*K + c] (0 for the background class).
// Work memory per block: dxb_ssd_class_bytes(T); when dxb_ssd_class_needs_global(T), pass a workspace of
// B*K*dxb_ssd_class_bytes(T) bytes, else null (shared memory is used).
int64_t dxb_ssd_class_bytes(int64_t T);
bool dxb_ssd_class_needs_global(int64_t T);
int dxb_launch_ssd_classes(const float* probT, const float* boxes, int64_t B, int64_t P, int64_t K, int64_t bg,
                           float score_thr, float iou_thr, int64_t T, uint64_t* kept, int32_t* kept_n,
                           uint8_t* workspace, void* stream);

// Stage 3: one block per image: ranks every kept detection by (score desc, class asc, prior asc) and writes
// the first M into out_boxes [B, M, 4], out_scores [B, M], out_labels [B, M] (padding 0, 0, -1) and
// out_counts [B]. Every output element is written.
int dxb_launch_ssd_merge(const uint64_t* kept, const int32_t* kept_n, const float* probT, const float* boxes,
                         int64_t B, int64_t P, int64_t K, int64_t T, int64_t M, float* out_boxes, float* out_scores,
                         int64_t* out_labels, int64_t* out_counts, void* stream);

}  // namespace distortx
