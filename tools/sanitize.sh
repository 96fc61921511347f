#!/usr/bin/env bash
# Build the native core (its C++ sources) with AddressSanitizer + UndefinedBehaviorSanitizer in a scratch copy of
# the working tree and run the native-op tests and the fuzz profile against it. Clean = exit 0.
#   bash tools/sanitize.sh            # the CI fuzz profile (100 examples per op)
#   bash tools/sanitize.sh long       # DISTORTX_FUZZ=long (3,000 examples per op)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -C "$root" --exclude=.git --exclude=build --exclude='*.so' --exclude=runs --exclude='experiments/default_model/photos*' -cf - . | tar -C "$work" -xf -
cd "$work"
echo "building with -fsanitize=address,undefined in $work (C++ only) ..."
DISTORTX_SANITIZE=1 DISTORTX_FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-2}" python setup.py build_ext --inplace > "$work/build.log" 2>&1 \
  || { tail -30 "$work/build.log"; exit 1; }
export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
[ "${1:-}" = "long" ] && export DISTORTX_FUZZ=long
PYTHONPATH="$work" python -m pytest -p no:cacheprovider -q \
  tests/test_native_distort.py tests/test_native_scalar.py tests/test_native_inputs.py tests/test_native_codes.py \
  tests/test_native_u8.py tests/test_codecs.py tests/test_nms.py tests/test_ssd_postprocess.py tests/test_nlm.py tests/test_fuzz.py
# the ImageNet-C helpers in csrc/corruptions/ (glass map, Poisson inversion, plasma, filter_axis, pixelate, spatter,
# zoom, linear_sample, shift_taps, contrast_u8, correlate2d, the uint8 conversions, Canny), each against its torch twin
PYTHONPATH="$work" python -m pytest -p no:cacheprovider -q tests/test_corruptions.py \
  -k "glass_shuffle_native or poisson or plasma or filter_axis or pixelate or chunks or spatter_edge or zoom_blur_native or linear_sample or shift_taps or contrast_uint8 or filter2d or uint8_conversions or canny"
