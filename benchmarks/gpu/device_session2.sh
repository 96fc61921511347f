#!/usr/bin/env bash
# Second device session (issues 15, 9, 10): rebuild, recheck what failed in the first session, memcheck the new
# kernels, train the shipped default model for TRAIN_MIN minutes, then the GPU benchmarks in the time left.
# Carry: experiments/default_model/photos (train + val crops from prepare.py). Results: $OUT/results.tgz
# (logs, JSON) and $OUT/model.pt (the trained default model).
set -uo pipefail
OUT=${OUT:-/tmp/dx-out}; W=/tmp/dxo; mkdir -p "$OUT" "$W"
TRAIN_MIN=${TRAIN_MIN:-4}
export PYTHONUNBUFFERED=1 NO_ALBUMENTATIONS_UPDATE=1 PIP_DISABLE_PIP_VERSION_CHECK=1
stamp() { echo "== $(date +%T) $*"; }
finish() { tar czf "$OUT/results.tgz" -C "$W" . 2>/dev/null; stamp done; }
trap finish EXIT

stamp start; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
export CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$(command -v nvcc)")")} TORCH_CUDA_ARCH_LIST=9.0 MAX_JOBS=16
t0=$SECONDS
python3 -m pip install --no-build-isolation --no-deps -e . -e plugins/distortx-lens > "$W/build.log" 2>&1 \
  || { tail -30 "$W/build.log"; echo "BUILD FAILED"; exit 3; }
echo "build: $((SECONDS - t0)) s"

stamp gpu-tests
timeout 120 python3 -m pytest -m gpu -q -p no:cacheprovider -rfE -W ignore 2>&1 | tee "$W/pytest_gpu.log" | tail -6
stamp native-tests-single-process
timeout 120 python3 -X faulthandler -m pytest -q -p no:cacheprovider -W ignore tests/test_native_distort.py \
  tests/test_nlm.py $(ls tests/test_native_scalar.py 2>/dev/null) 2>&1 | tee "$W/pytest_native.log" | tail -4
stamp memcheck
timeout 120 compute-sanitizer --tool memcheck --error-exitcode 9 python3 benchmarks/gpu/memcheck_ops.py \
  > "$W/memcheck.log" 2>&1; echo "memcheck rc=$?"; tail -3 "$W/memcheck.log"
[ -f benchmarks/gpu/nlm_check.py ] && timeout 60 python3 benchmarks/gpu/nlm_check.py 2>&1 | tee "$W/nlm_check.log" | tail -5

stamp train-default-model
timeout $((TRAIN_MIN * 60 + 90)) python3 -m distortx train experiments/default_model/ynet.toml --device cuda \
  --set train.max_minutes=$TRAIN_MIN --out runs/default-ynet --overwrite --quiet 2>&1 | tail -5
cp runs/default-ynet/log.jsonl "$W/train_log.jsonl" 2>/dev/null; cp runs/default-ynet/config.toml "$W/" 2>/dev/null
cp runs/default-ynet/model.pt "$OUT/model.pt" 2>/dev/null || cp runs/default-ynet/last.pt "$OUT/last.pt"
tail -2 runs/default-ynet/log.jsonl

stamp bench-distort
timeout 60 python3 benchmarks/bench_distort.py --device cuda --batch 1024 --no-peers \
  --json "$W/bench_distort_cuda.json" > "$W/bench_distort_cuda.log" 2>&1; tail -18 "$W/bench_distort_cuda.log"
stamp bench-train
timeout 70 python3 benchmarks/bench_train.py --device cuda --backbone atrous_vgg16 --batch 32 --seconds 10 \
  --images experiments/default_model/photos/train --json "$W/bench_train_cuda.json" 2>&1 | tail -7
if [ -f benchmarks/bench_models.py ]; then
  stamp bench-models
  timeout 90 python3 benchmarks/bench_models.py --device cuda --json "$W/bench_models_cuda.json" 2>&1 \
    | tee "$W/bench_models_cuda.log" | tail -16
fi
