"""Builds the native core ``distortx._C``.

C++ sources (``csrc/**/*.cpp`` except ``*_cuda.cpp``) always build, with OpenMP. CUDA sources
(``csrc/**/*.cu`` and the torch glue ``csrc/**/*_cuda.cpp``) build too when torch is a CUDA build and nvcc
is found; no GPU is needed to compile. Environment:

  DISTORTX_NO_NATIVE=1     skip the extension (the package then runs on its pure-PyTorch paths)
  DISTORTX_FORCE_CUDA=0/1  disable / require the CUDA sources
  DISTORTX_SANITIZE=1      build the C++ with AddressSanitizer + UndefinedBehaviorSanitizer (tools/sanitize.sh)
  CUDA_HOME                defaults to /usr/local/cuda when nvcc is there
  TORCH_CUDA_ARCH_LIST     defaults to "9.0" (Hopper); set e.g. "8.0;9.0" for more
  MAX_JOBS                 parallel compile jobs (ninja)

Metadata lives in pyproject.toml; this file only adds the extension.
"""
import glob
import os
import shutil
import sys

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))


def _sources(pattern):
    return sorted(os.path.relpath(p, HERE) for p in glob.glob(os.path.join(HERE, "csrc", "**", pattern), recursive=True))


def _cuda_home():
    if os.environ.get("CUDA_HOME"):
        return os.environ["CUDA_HOME"]
    if os.path.exists("/usr/local/cuda/bin/nvcc"):
        return "/usr/local/cuda"
    nvcc = shutil.which("nvcc")
    if nvcc:
        home = os.path.dirname(os.path.dirname(os.path.realpath(nvcc)))
        if os.path.isdir(os.path.join(home, "include")) and glob.glob(os.path.join(home, "lib*", "libcudart.so*")):
            return home
    return None


def _libjpeg():
    """Whether libjpeg(-turbo)'s header is where the compiler looks (then csrc/codec/ is built and linked with -ljpeg:
    the batched real-codec op); DISTORTX_WITH_LIBJPEG=0 leaves it out."""
    if os.environ.get("DISTORTX_WITH_LIBJPEG", "1") == "0":
        return False
    dirs = ["/usr/include", "/usr/local/include"] + [d for d in os.environ.get("CPATH", "").split(os.pathsep) if d]
    return any(os.path.exists(os.path.join(d, "jpeglib.h")) for d in dirs)


def extensions():
    if os.environ.get("DISTORTX_NO_NATIVE", "0") == "1":
        print("distortx setup: DISTORTX_NO_NATIVE=1, building no extension")
        return [], {}
    cuda_home = _cuda_home()
    if cuda_home:  # before importing cpp_extension, which reads it once (a wrong guess fails at link: -lcudart)
        os.environ["CUDA_HOME"] = cuda_home
    import torch
    from torch.utils import cpp_extension

    force = os.environ.get("DISTORTX_FORCE_CUDA")
    use_cuda = torch.version.cuda is not None and cuda_home is not None
    if force == "0":
        use_cuda = False
    elif force == "1" and not use_cuda:
        sys.exit("distortx setup: DISTORTX_FORCE_CUDA=1 but torch is not a CUDA build or nvcc was not found")
    if use_cuda:
        os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "9.0")

    with_jpeg = _libjpeg()
    cpp = [s for s in _sources("*.cpp") if not s.endswith("_cuda.cpp") and (with_jpeg or not s.startswith(os.path.join("csrc", "codec")))]
    cuda = _sources("*_cuda.cpp") + _sources("*.cu")
    # one floating-point policy for the shared CPU/CUDA bodies: no contraction of a*b+c into FMA on either side
    # (GCC's ISO default, made explicit; nvcc contracts unless -fmad=false) and no fast-math, so every float /
    # double + - * / sqrt rounds once, as IEEE says, and the CPU tests check the bits the GPU computes;
    # -fno-math-errno only lets sqrtf inline (and vectorise) as the correctly rounded instruction it is
    cxx = ["-O3", "-g0", "-fopenmp", "-std=c++20", "-ffp-contract=off", "-fno-math-errno"]
    link = ["-fopenmp"]
    if os.environ.get("DISTORTX_SANITIZE") == "1":
        san = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", "-fno-omit-frame-pointer"]
        cxx = ["-O1", "-g"] + cxx[2:] + san
        link += san
    macros = []
    kwargs = dict(include_dirs=[os.path.join(HERE, "csrc")], extra_link_args=link, libraries=["jpeg"] if with_jpeg else [])
    if use_cuda:
        macros.append(("WITH_CUDA", None))
        kwargs["library_dirs"] = [d for d in (os.path.join(cuda_home, "lib64"), os.path.join(cuda_home, "lib")) if os.path.isdir(d)]
        ext = cpp_extension.CUDAExtension(
            "distortx._C", cpp + cuda, define_macros=macros,
            extra_compile_args={"cxx": cxx, "nvcc": ["-O3", "-lineinfo", "-std=c++20", "-fmad=false"]},
            **kwargs,
        )
    else:
        ext = cpp_extension.CppExtension("distortx._C", cpp, define_macros=macros, extra_compile_args={"cxx": cxx}, **kwargs)
    print(
        f"distortx setup: torch {torch.__version__}, CUDA sources {'ON (CUDA_HOME=' + cuda_home + ', arch ' + os.environ['TORCH_CUDA_ARCH_LIST'] + ')' if use_cuda else 'OFF'}, "
        f"{len(cpp)} C++ + {len(cuda) if use_cuda else 0} CUDA files, libjpeg codec {'ON' if with_jpeg else 'OFF (no jpeglib.h)'}"
    )
    return [ext], {"build_ext": cpp_extension.BuildExtension.with_options(use_ninja=shutil.which("ninja") is not None)}


ext_modules, cmdclass = extensions()
setup(ext_modules=ext_modules, cmdclass=cmdclass)
