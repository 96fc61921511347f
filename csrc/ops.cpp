// Every op's schema, in one place. Backends register implementations with
// TORCH_LIBRARY_IMPL(distortx, CPU|CUDA, m) in their own files.
#include <torch/library.h>
#include <Python.h>

// Importing distortx._C registers the ops below; the module itself has no Python functions.
static struct PyModuleDef distortx_module = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, nullptr};
PyMODINIT_FUNC PyInit__C(void) { return PyModule_Create(&distortx_module); }

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
  m.def("distort_native_codes() -> int[]");  // codes with a native kernel in this build

  // ---- box ops (csrc/boxes/) -------------------------------------------------------------------------
}
