// Host-side planning of the fused distortion op: argument checks, one DxRegion per (image, region) slot
// (each code's plan function, codes.h, fills its region: <family>_plan.cpp), the scratch layout, and the
// pre-passes that are whole-image tensor maths (done with ATen on the images' device): the contrast grey level
// and the fnoise 1/f field (FFT).
#include "distort/distort_plan.h"

#include <ATen/ATen.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

namespace distortx {

std::vector<int64_t> dx_native_codes() {
  std::vector<int64_t> out;
#define DX_CODE_ENTRY(NAME, ...) out.push_back(DX_##NAME);
  DX_CODE_TABLE(DX_CODE_ENTRY)
#undef DX_CODE_ENTRY
  return out;
}

// ---- the planner's services to the plan functions ---------------------------------------------------------
int32_t DxPlanner::constants(int code, int64_t key, const std::function<std::vector<float>()>& make) {
  auto found = const_at_.find({code, key});
  if (found != const_at_.end()) return found->second;
  const int32_t at = (int32_t)consts_.size();
  const std::vector<float> values = make();
  consts_.insert(consts_.end(), values.begin(), values.end());
  const_at_.emplace(std::make_pair(code, key), at);
  return at;
}

void DxPlanner::prepass(int64_t elements, int64_t floats) {
  pass_slots_.push_back(slot);
  pass_sizes_.push_back(elements);
  pass_floats_.push_back(floats);
}

void DxPlanner::mean_luma() { gray_slots_.push_back(slot); }

void DxPlanner::fnoise_field() { fnoise_slots_.push_back(slot); }

void dx_plan_nothing(DxRegion&, DxPlanner&) {}

void dx_check_args(const at::Tensor& images, const at::Tensor& codes, const at::Tensor& values,
                   const at::Tensor& boxes, const at::Tensor& seeds) {
  TORCH_CHECK(images.dim() == 4, "distortx.distort: images must be a float32 or uint8 Tensor[N, C, H, W], got shape ", images.sizes());
  const bool u8 = images.scalar_type() == at::kByte;
  TORCH_CHECK(images.scalar_type() == at::kFloat || (u8 && images.device().is_cpu()),
              "distortx.distort: images must be float32 (or uint8 on the CPU), got ", images.scalar_type(), " on ", images.device());
  TORCH_CHECK(images.size(1) == 1 || images.size(1) == 3, "distortx.distort: images must have 1 or 3 channels, got ", images.size(1));
  TORCH_CHECK(images.is_contiguous() || (u8 && images.is_contiguous(at::MemoryFormat::ChannelsLast)),
              "distortx.distort: images must be contiguous (call .contiguous())", u8 ? " or channels-last contiguous" : "");
  TORCH_CHECK(images.size(1) * images.size(2) * images.size(3) < (int64_t(1) << 31),
              "distortx.distort: one image must have fewer than 2^31 elements, got ", images.sizes());
  const int64_t N = images.size(0);
  TORCH_CHECK(codes.dim() == 2 && codes.size(0) == N && codes.scalar_type() == at::kInt,
              "distortx.distort: codes must be int32 Tensor[N, R] with N = ", N, ", got ", codes.scalar_type(), " ", codes.sizes());
  const int64_t R = codes.size(1);
  TORCH_CHECK(values.dim() == 3 && values.size(0) == N && values.size(1) == R && values.size(2) <= 4 &&
                  values.scalar_type() == at::kFloat,
              "distortx.distort: values must be float32 Tensor[N, R, P] with P <= 4, N = ", N, ", R = ", R, ", got ",
              values.scalar_type(), " ", values.sizes());
  TORCH_CHECK(boxes.dim() == 3 && boxes.size(0) == N && boxes.size(1) == R && boxes.size(2) == 4 &&
                  boxes.scalar_type() == at::kInt,
              "distortx.distort: boxes must be int32 Tensor[N, R, 4] (x0, y0, x1, y1), got ", boxes.scalar_type(), " ", boxes.sizes());
  TORCH_CHECK(seeds.dim() == 2 && seeds.size(0) == N && seeds.size(1) == R && seeds.scalar_type() == at::kLong,
              "distortx.distort: seeds must be int64 Tensor[N, R], got ", seeds.scalar_type(), " ", seeds.sizes());
  for (const at::Tensor* t : {&codes, &values, &boxes, &seeds})
    TORCH_CHECK(t->device().is_cpu() || t->device() == images.device(),
                "distortx.distort: codes/values/boxes/seeds must be on the CPU or on the images' device ", images.device());
}

DxPlan dx_make_plan(const at::Tensor& images, const at::Tensor& codes_, const at::Tensor& values_,
                    const at::Tensor& boxes_, const at::Tensor& seeds_, const DxBackend& backend) {
  const int64_t N = images.size(0), C = images.size(1), H = images.size(2), W = images.size(3);
  const int64_t R = codes_.size(1), P = values_.size(2);
  const at::Tensor codes = codes_.to(at::kCPU).contiguous(), values = values_.to(at::kCPU).contiguous();
  const at::Tensor boxes = boxes_.to(at::kCPU).contiguous(), seeds = seeds_.to(at::kCPU).contiguous();
  const int32_t* cp = codes.data_ptr<int32_t>();
  const float* vp = values.data_ptr<float>();
  const int32_t* bp = boxes.data_ptr<int32_t>();
  const int64_t* sp = seeds.data_ptr<int64_t>();

  DxPlan plan;
  plan.regs.assign(N * R, DxRegion{});
  DxPlanner planner;
  planner.N = N, planner.C = C, planner.H = H, planner.W = W;
  for (int64_t i = 0; i < N * R; ++i) {
    DxRegion& g = plan.regs[i];
    g.code = cp[i];
    TORCH_CHECK(g.code >= 0 && g.code < DX_NUM_CODES, "distortx.distort: unknown distortion code ", g.code, " at region ", i);
    TORCH_CHECK(g.code == DX_NONE || dx_has_native(g.code), "distortx.distort: distortion code ", g.code,
                " has no native kernel in this build (route it to the python path)");
    const int32_t* b = bp + 4 * i;
    g.x0 = std::clamp<int32_t>(b[0], 0, (int32_t)W);
    g.x1 = std::max(g.x0, std::clamp<int32_t>(b[2], 0, (int32_t)W));
    g.y0 = std::clamp<int32_t>(b[1], 0, (int32_t)H);
    g.y1 = std::max(g.y0, std::clamp<int32_t>(b[3], 0, (int32_t)H));
    if (g.x1 <= g.x0 || g.y1 <= g.y0) g.code = DX_NONE;
    g.seed = sp[i];
    g.off = -1;
    for (int64_t j = 0; j < P; ++j) g.v[j] = vp[i * P + j];
    if (g.code == DX_NONE) continue;
    ++plan.active;
    planner.slot = i;
    switch (g.code) {
#define DX_PLAN_CASE(NAME, CODE, BODY, PREPASS, PLAN) \
  case DX_##NAME: PLAN(g, planner); break;
      DX_CODE_TABLE(DX_PLAN_CASE)
#undef DX_PLAN_CASE
      default: break;
    }
  }
  std::vector<float>& consts = planner.consts_;
  const std::vector<int64_t>& fnoise_slots = planner.fnoise_slots_;
  const std::vector<int64_t>& pass_slots = planner.pass_slots_;
  const std::vector<int64_t>& pass_sizes = planner.pass_sizes_;
  const std::vector<int64_t>& pass_floats = planner.pass_floats_;

  // scratch layout: [host constants] [grey levels N] [fnoise fields K x C x H x W] [pre-pass outputs]
  const at::TensorOptions fopt = images.options().dtype(at::kFloat);
  int64_t total = (int64_t)consts.size();
  const int64_t gray_off = total;
  std::vector<int64_t> gray_images;  // images with a contrast region (ascending); grey level k at scratch[gray_off + k]
  for (int64_t slot : planner.gray_slots_) {
    const int64_t n = slot / R;
    if (gray_images.empty() || gray_images.back() != n) gray_images.push_back(n);
    plan.regs[slot].off = gray_off + (int64_t)gray_images.size() - 1;
  }
  total += (int64_t)gray_images.size();
  const int64_t fnoise_off = total, chw = C * H * W;
  for (size_t k = 0; k < fnoise_slots.size(); ++k) plan.regs[fnoise_slots[k]].off = fnoise_off + (int64_t)k * chw;
  total += (int64_t)fnoise_slots.size() * chw;
  for (size_t k = 0; k < pass_slots.size(); ++k) {
    plan.regs[pass_slots[k]].off = total;
    plan.passes.push_back(DxPass{(int32_t)pass_slots[k], 0, plan.pass_total});
    plan.pass_total += pass_sizes[k];
    total += pass_floats[k];
  }
  plan.passes.push_back(DxPass{-1, 0, plan.pass_total});  // sentinel
  plan.scratch = at::empty({std::max<int64_t>(total, 1)}, fopt);
  if (!consts.empty()) {
    at::Tensor host = at::from_blob(consts.data(), {(int64_t)consts.size()}, at::TensorOptions().dtype(at::kFloat));
    plan.scratch.narrow(0, 0, (int64_t)consts.size()).copy_(host);
  }

  if (!gray_images.empty())  // = tone.mean_luminance
    backend.mean_luma(images, gray_images, plan.scratch.data_ptr<float>() + gray_off);
  if (!fnoise_slots.empty()) {
    std::vector<int64_t> kseeds;
    for (int64_t slot : fnoise_slots) kseeds.push_back(sp[slot]);
    plan.scratch.narrow(0, fnoise_off, (int64_t)fnoise_slots.size() * chw).copy_(dx_fnoise_fields(images, kseeds, backend).reshape({-1}));
  }
  return plan;
}

DxLaunchPlan dx_launch_plan(const DxPlan& plan) {
  DxLaunchPlan lp;
  auto group_of = [&](int code) -> DxPrepassGroup& {
    for (DxPrepassGroup& grp : lp.groups)
      if (grp.code == code) return grp;
    lp.groups.emplace_back();
    lp.groups.back().code = code;
    return lp.groups.back();
  };
  for (size_t k = 0; k + 1 < plan.passes.size(); ++k) {
    const int32_t slot = plan.passes[k].slot;
    const DxRegion& g = plan.regs[slot];
    if (g.code == DX_NLM_DENOISE) {
      for (int y = g.y0; y < g.y1; y += kNlmTileH)
        for (int x = g.x0; x < g.x1; x += kNlmTileW) lp.nlm_tiles.push_back(DxNlmTile{slot, x, y, 0});
      continue;
    }
    DxPrepassGroup& grp = group_of(g.code);
    grp.passes.push_back(DxPass{slot, 0, grp.total});
    grp.total += plan.passes[k + 1].begin - plan.passes[k].begin;
  }
  for (DxPrepassGroup& grp : lp.groups) grp.passes.push_back(DxPass{-1, 0, grp.total});  // sentinels
  const char* block = std::getenv("DISTORTX_CUDA_NLM_BLOCK");
  if (block != nullptr && std::strcmp(block, "2") == 0) lp.nlm_block = 2;
  return lp;
}

DxBatch dx_batch(const at::Tensor& images, at::Tensor& out, int64_t R, const DxPlan& plan, const DxRegion* regs) {
  DxBatch b;
  b.in = images.data_ptr<float>();
  b.out = out.data_ptr<float>();
  b.regs = regs;
  b.scratch = plan.scratch.data_ptr<float>();
  b.N = (int)images.size(0), b.C = (int)images.size(1), b.H = (int)images.size(2), b.W = (int)images.size(3);
  b.R = (int)R;
  return b;
}

namespace {
std::vector<int64_t> distort_native_codes() { return dx_native_codes(); }
}  // namespace

}  // namespace distortx

TORCH_LIBRARY_IMPL(distortx, CompositeExplicitAutograd, m) {
  m.impl("distort_native_codes", &distortx::distort_native_codes);
}
