#!/usr/bin/env bash
# One device-machine session (issue 15): build distortx._C against the device's torch, run the gpu tests and
# the default suite, memcheck every CUDA op, and the GPU benchmarks. Logs and JSON go to $OUT.
#   STEPS="build tests memcheck bench" (default: all) selects steps; carry .whl (kornia, pycocotools wheels).
# Run from the repository root on the device machine (the device tool's `run`).
set -uo pipefail
OUT=${OUT:-/tmp/dx-out}; mkdir -p "$OUT"
STEPS=${STEPS:-"build tests memcheck bench"}
export PYTHONUNBUFFERED=1 NO_ALBUMENTATIONS_UPDATE=1 PIP_DISABLE_PIP_VERSION_CHECK=1
has() { [[ " $STEPS " == *" $1 "* ]]; }
stamp() { echo "== $(date +%T) $*"; }

stamp start; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda)"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site
fi

if has build; then
  stamp build
  export CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$(command -v nvcc)")")} TORCH_CUDA_ARCH_LIST=9.0 MAX_JOBS=16
  t0=$SECONDS
  python3 -m pip install --no-build-isolation --no-deps -e . -e plugins/distortx-lens > "$OUT/build.log" 2>&1 \
    || { tail -40 "$OUT/build.log"; echo "BUILD FAILED"; exit 3; }
  echo "build: $((SECONDS - t0)) s"
  python3 -c "import torch, distortx._C; print('cuda_compiled', torch.ops.distortx.cuda_compiled())"
  cp distortx/_C*.so "$OUT/" 2>/dev/null || true
fi

if has tests; then
  stamp gpu-tests
  timeout 150 python3 -m pytest -m gpu -q -p no:cacheprovider -rfE 2>&1 | tee "$OUT/pytest_gpu.log" | tail -25
  stamp default-suite
  timeout 150 python3 -m pytest -q -p no:cacheprovider -n 8 -rfE 2>&1 | tee "$OUT/pytest_default.log" | tail -15
fi

if has memcheck; then
  stamp memcheck
  timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 python3 benchmarks/gpu/memcheck_ops.py \
    > "$OUT/memcheck.log" 2>&1; echo "memcheck rc=$?"; tail -6 "$OUT/memcheck.log"
fi

if has bench; then
  stamp bench-distort
  timeout 150 python3 benchmarks/bench_distort.py --device cuda --batch 1024 --json "$OUT/bench_distort_cuda.json" \
    > "$OUT/bench_distort_cuda.log" 2>&1; tail -22 "$OUT/bench_distort_cuda.log"
  stamp bench-boxes
  timeout 60 python3 benchmarks/bench_boxes.py --device cuda --json "$OUT/bench_boxes_cuda.json" 2>&1 | tail -12
  stamp bench-generate
  timeout 60 python3 benchmarks/bench_generate.py --device cuda --quick --json "$OUT/bench_generate_cuda.json" 2>&1 | tail -8
  if [ -f benchmarks/bench_models.py ]; then
    stamp bench-models
    timeout 150 python3 benchmarks/bench_models.py --device cuda --json "$OUT/bench_models_cuda.json" 2>&1 | tail -20
  fi
fi
stamp done
