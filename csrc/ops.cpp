// Every op's schema, in one place. Backends register implementations with
// TORCH_LIBRARY_IMPL(distortx, CPU|CUDA, m) in their own files.
#include <torch/library.h>
#include <Python.h>

#include <cctype>
#include <string>

#include "distort/codes.h"

// Importing distortx._C registers the ops below. The module's one attribute, NATIVE_CODES, is the fused
// distortion kernel's code table (csrc/distort/codes.h) as {registered name: op code}.
static struct PyModuleDef distortx_module = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, nullptr};

static int add_code(PyObject* table, const char* upper, long code) {
  std::string name(upper);
  for (char& ch : name) ch = (char)std::tolower((unsigned char)ch);
  PyObject* value = PyLong_FromLong(code);
  if (value == nullptr) return -1;
  const int rc = PyDict_SetItemString(table, name.c_str(), value);
  Py_DECREF(value);
  return rc;
}

PyMODINIT_FUNC PyInit__C(void) {
  PyObject* module = PyModule_Create(&distortx_module);
  if (module == nullptr) return nullptr;
  PyObject* table = PyDict_New();
  if (table == nullptr) return nullptr;
#define DX_PY_CODE(NAME, CODE, ...) \
  if (add_code(table, #NAME, CODE) != 0) return nullptr;
  DX_CODE_TABLE(DX_PY_CODE)
#undef DX_PY_CODE
  if (PyModule_AddObject(module, "NATIVE_CODES", table) != 0) return nullptr;
  return module;
}

#ifdef WITH_CUDA
static bool cuda_compiled() { return true; }
#else
static bool cuda_compiled() { return false; }
#endif

TORCH_LIBRARY(distortx, m) {
  m.def("cuda_compiled() -> bool", &cuda_compiled);

  // ---- fused distortion (csrc/distort/) ------------------------------------------------------------
  // images f32 [N,C,H,W], codes i32 [N,R] (0 = none), values f32 [N,R,P<=4], boxes i32 [N,R,4] xyxy, seeds i64 [N,R]
  m.def("distort(Tensor images, Tensor codes, Tensor values, Tensor boxes, Tensor seeds) -> Tensor");
  m.def("distort_native_codes() -> int[]");  // the code table (codes.h), ascending
  // private, for tests: the CUDA backend's work run on the CPU element by element, through the same functions
  // (csrc/distort/distort_scalar_cpu.cpp); same arguments and result as distort
  m.def("distort_scalar(Tensor images, Tensor codes, Tensor values, Tensor boxes, Tensor seeds) -> Tensor");
  // seeds i64 [N] -> f32 [N, numel]: rng.uniform(seeds[n], i, stream) for i < numel (the counter RNG's uniforms,
  // bit for bit; csrc/distort/noise_cpu.cpp)
  m.def("uniform_fill(Tensor seeds, int numel, int stream) -> Tensor");
  m.def("normal_fill(Tensor seeds, int numel, int stream) -> Tensor");
  m.def("box_muller(Tensor u1, Tensor u2) -> Tensor");
  m.def("noise_u8(Tensor images, Tensor seeds, int kind, float amount, int[] streams) -> Tensor");
  m.def("shot_u8(Tensor images, Tensor seeds, int stream, float c, float small_rate, int max_rates) -> Tensor");

  // ---- ImageNet-C helpers (csrc/corruptions/) --------------------------------------------------------------
  // glass blur's sequential pixel shuffle: offsets i64 [iterations, (H-2d)(W-2d), 2] -> source map i64 [H*W]
  m.def("glass_shuffle_map(Tensor offsets, int H, int W, int delta) -> Tensor");
  // shot noise's Poisson counts by CDF inversion, the torch code's draws: lam, u f64 (one shape) -> counts f64
  m.def("poisson_inverse(Tensor lam, Tensor u, int terms, float small_rate, int max_rates) -> Tensor");
  // fog's plasma fractal (diamond-square), the torch code's maps: seeds i64 [N] -> f32 [N, size, size] in [0, 1]
  m.def("plasma_fractal(Tensor seeds, int size, float decay) -> Tensor");
  // 1-D correlation along dim with scipy.ndimage's borders (mode 0 nearest, 1 reflect, 2 mirror), the torch loop's
  // bits: x f32, weights f32 [K odd] -> f32 like x
  m.def("filter_axis(Tensor x, Tensor weights, int dim, int mode) -> Tensor");
  // filter2D-style correlation, the torch code's tap order and bits: x f32 [N,C,H,W], kernel f32 [k,k] (k odd),
  // border mode as filter_axis -> f32 like x
  m.def("correlate2d(Tensor x, Tensor kernel, int mode) -> Tensor");
  // pixelate on uint8: Pillow's BOX runs along x (lo, hi, weight per output column) then y, NEAREST sources back
  m.def("pixelate_u8(Tensor images, Tensor lo_x, Tensor hi_x, Tensor w_x, Tensor lo_y, Tensor hi_y, Tensor w_y, "
        "Tensor rows, Tensor cols) -> Tensor");
  // uint8 images <-> float32 NCHW in [0, 1] for the family's float forms: v / 255 as torch divides; floor(clamp(x, 0,
  // 1) * 255 + 0.001) as corrupt() truncates, written channels last when asked
  m.def("u8_to_unit(Tensor images) -> Tensor");
  m.def("unit_to_u8(Tensor x, bool channels_last) -> Tensor");
  // contrast on uint8: each channel about its exact mean through a 256-entry table: u8 [N,C,H,W], gains f32 [N] -> u8
  m.def("contrast_u8(Tensor images, Tensor gains) -> Tensor");
  // spatter: weak edges reached from strong ones in <= steps 8-neighbour steps (bool [N,H,W] x2 -> bool [N,H,W]);
  // the distance to the nearest edge pixel capped at limit (bool [N,H,W] -> f32 [N,H,W])
  m.def("canny_candidates(Tensor levels, float low, float high) -> (Tensor, Tensor)");
  m.def("hysteresis(Tensor strong, Tensor weak, int steps) -> Tensor");
  m.def("edge_distance(Tensor edges, int limit) -> Tensor");
  // zoom blur's x + sum of bilinear zooms: x f32 [N,C,H,W], source coordinates ay f32 [F,H], ax f32 [F,W] -> f32
  m.def("zoom_blur_sum(Tensor x, Tensor ay, Tensor ax) -> Tensor");
  // clipped_zoom (snow's flakes): the one bilinear centre zoom, ay f32 [1,H], ax f32 [1,W] -> f32 [N,C,H,W]
  m.def("zoom_sample(Tensor x, Tensor ay, Tensor ax) -> Tensor");
  // snow's last step: clamp(keep x + (1 - keep) max(x, 1.5 grey(x) + 0.5) + L + L rotated 180, 0, 1) with
  // L = round(255 streaks) / 255: x f32 [N,C,H,W] (C 1 or 3), streaks f32 [N,1,H,W] -> f32 [N,C,H,W]
  m.def("snow_blend(Tensor x, Tensor streaks, float keep) -> Tensor");
  // the same on uint8 x (any layout) -> uint8 in x's layout, truncated as corrupt() truncates (same bytes)
  m.def("snow_blend_u8(Tensor x, Tensor streaks, float keep) -> Tensor");
  // frost's blend on uint8 x [N,3,H,W] (any layout): clamp(keep x + amount crop) with each image's f32 [3,H,W] crop
  // (a strided view of its bank picture) -> u8 in x's layout, truncated as corrupt() truncates (same bytes)
  m.def("frost_blend_u8(Tensor x, Tensor[] crops, float keep, float amount) -> Tensor");
  // bilinear sampling (map_coordinates order 1) with a border mode: x f32 [N,C,H,W], ys, xs f32 [N,H',W'] -> f32
  m.def("linear_sample(Tensor x, Tensor ys, Tensor xs, int mode) -> Tensor");
  // motion blur / snow: sum of taps w[t] * x shifted by (dy, dx)[t, n] with repeated edges while alive[t, n]
  m.def("shift_taps(Tensor x, Tensor w, Tensor dy, Tensor dx, Tensor alive) -> Tensor");
  // motion blur's uint8 form: the same taps on u8 x (any layout, read as v / 255) -> u8 in x's layout, truncated
  m.def("shift_taps_u8(Tensor x, Tensor w, Tensor dy, Tensor dx, Tensor alive) -> Tensor");

  // ---- box ops (csrc/boxes/) -------------------------------------------------------------------------
  // boxes f32 [N,4] xyxy, scores f32 [N], idxs i64 [N] -> kept indices i64, sorted by (score desc, index asc)
  m.def("batched_nms(Tensor boxes, Tensor scores, Tensor idxs, float iou_threshold) -> Tensor");
  // loc f32 [B,P,4], scores f32 [B,P,K], priors f32 [P,4] cxcywh -> boxes [B,M,4], scores [B,M], labels i64 [B,M]
  // (padding 0, 0, -1), counts i64 [B]
  m.def("ssd_postprocess(Tensor loc, Tensor scores, Tensor priors, float[2] variances, float score_threshold, "
        "float iou_threshold, int topk_per_class, int max_detections, bool apply_softmax, int background_class=0) "
        "-> (Tensor, Tensor, Tensor, Tensor)");
}
