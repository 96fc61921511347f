"""JPEG compression (Ahn, Endo, Dodge): the real codec through Pillow, and a batched torch twin of it.

Parameter: ``quality`` in 1..100 (integer, IJG scale; lower = stronger, "decreasing" severity). No identity:
even q = 100 quantises (every table entry 1) and subsamples chroma.

Two implementations (``spec.apply(impl=...)``):

* ``reference`` = :func:`jpeg_pillow`: per image, float [0,1] -> uint8 -> PIL "RGB" (or "L" for one
  channel) -> baseline JPEG in memory (``quality=q``, ``subsampling="4:2:0"`` for RGB) -> decode -> float.
  Pillow bundles libjpeg-turbo. CUDA inputs go to the CPU and back (the only round trip: a real codec).
  On uint8 images the codec runs without the float conversions (``reference_uint8`` = :func:`jpeg_turbo_u8`,
  what ``impl="auto"`` takes for uint8 on the CPU): our batched libjpeg op (one call for the batch, OpenMP
  threads), else libjpeg-turbo through torchvision's JPEG ops on worker threads, else Pillow's round trip; a
  route is taken only if it gives Pillow's bits on a probe image.
* ``simulation`` = :func:`jpeg_simulate`: the same pipeline re-implemented in integer torch arithmetic,
  step by step as libjpeg(-turbo) with Pillow's settings does it (default ``JDCT_ISLOW`` integer DCTs,
  h2v2 box downsampling, "fancy" triangular upsampling). It is **bit-exact** with Pillow on every image we
  tried (photos, noise, saturated, tiny 1x1..40x3 sizes, q = 1..100); the native kernel ports it.

Exact math of the simulation (all integers; ``>>`` is an arithmetic (floor) shift; FIX(x) = int(x*2^16+0.5)):

0. 8-bit input: u = round_half_even(clamp(x, 0, 1) * 255) computed in float32 (``rintf``), as
   :func:`distortx.io.to_uint8_image`, so both paths see the same samples.
1. RGB -> YCbCr (jccolor.c): Y  = (FIX(.299)R + FIX(.587)G + FIX(.114)B + 2^15) >> 16
                            Cb = (-FIX(.16874)R - FIX(.33126)G + 2^15 B + (128 << 16) + 2^15 - 1) >> 16
                            Cr = (2^15 R - FIX(.41869)G - FIX(.08131)B + (128 << 16) + 2^15 - 1) >> 16
   (FIX values: 19595, 38470, 7471; 11059, 21709; 27439, 5329). Grey (C = 1): Y = u, no chroma.
2. Edge extension by replication and 4:2:0 downsampling (jcsample.c h2v2_downsample, jcprepct.c):
   Y is replicated right/down to multiples of 8. Cb/Cr are replicated right to Wc2 = 16 * ceil(W/16)
   columns and down to 2 * ceil(H/2) rows, then c[i, j] = (s[2i,2j] + s[2i,2j+1] + s[2i+1,2j] + s[2i+1,2j+1]
   + bias_j) >> 2 with bias_j = 1 for even j, 2 for odd j; the *downsampled* rows are then replicated down
   to a multiple of 8. Real chroma size: hc = ceil(H/2), wc = ceil(W/2).
3. Forward DCT per 8x8 block of (sample - 128): libjpeg's jpeg_fdct_islow (Loeffler-Ligtenberg-Moschytz,
   13-bit constants, PASS1_BITS = 2): a 1-D pass over rows, then over columns; output = 8 x orthonormal DCT,
   rounded as the C code does (see :func:`_fdct_1d`).
4. Quantisation with the IJG tables (jcparam.c, force_baseline): scale = 5000 // q if q < 50 else 200 - 2q,
   Q = clamp((base * scale + 50) // 100, 1, 255); coefficient k = sign(F) * ((|F| + 4Q) // (8Q)).
5. Dequantise k * Q and inverse DCT: jpeg_idct_islow (columns first, then rows; see :func:`_idct_1d`);
   the sample is range_limit(x) = table[x & 1023] (x + 128 clamped to [0, 255] for -512 <= x <= 511,
   libjpeg's wrap-around outside; :func:`_range_limit`).
6. Chroma upsampling (jdsample.c h2v2_fancy_upsample, the default "fancy upsampling"), only if wc > 2,
   else plain 2x2 replication. Over the real hc x wc chroma plane with edge rows/columns replicated:
   vertical sums  v[2i, j] = 3 c[i, j] + c[i-1, j],  v[2i+1, j] = 3 c[i, j] + c[i+1, j];
   horizontal     out[r, 2j] = (3 v[r, j] + v[r, j-1] + 8) >> 4,  out[r, 2j+1] = (3 v[r, j] + v[r, j+1] + 7) >> 4;
   then crop to H x W.
7. YCbCr -> RGB (jdcolor.c), with cb = Cb - 128, cr = Cr - 128:
   R = Y + ((FIX(1.402) cr + 2^15) >> 16),  G = Y + ((-FIX(.34414) cb - FIX(.71414) cr + 2^15) >> 16),
   B = Y + ((FIX(1.772) cb + 2^15) >> 16), each clamped to [0, 255] (FIX: 91881, 22554, 46802, 116130).
8. float output = sample / 255.

Sources: Ahn, Kang, Sohn (q = 20, 10, 5); Endo, Tanaka, Okutomi (q ~ U{1..100}, "We used ... PIL");
Dodge, Karam (q = 2..20 step 2, libjpeg). Codec: IJG libjpeg 6b / libjpeg-turbo (jccolor.c, jcsample.c,
jfdctint.c, jcparam.c, jidctint.c, jdsample.c, jdcolor.c).
"""
from __future__ import annotations

import functools
import io
from typing import Callable, List, Optional, Tuple

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..io import to_uint8_image
from .spec import DistortionSpec, LevelSet, Parameter
from .papers import AHN, DODGE, ENDO


#: IJG standard tables (JPEG spec Annex K), natural (row-major) order: row = vertical frequency.
LUMA_TABLE = (
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
)
CHROMA_TABLE = (
    17, 18, 24, 47, 99, 99, 99, 99,
    18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99,
) + (99,) * 32


def quality_to_int(values: Tensor) -> Tensor:
    """Quality column (N,) float -> int64 in [1, 100] (rounded)."""
    return values.round().to(torch.int64).clamp(1, 100)


# -- reference: Pillow ------------------------------------------------------------------------------------
def pillow_jpeg_bytes(pil: Image.Image, quality: int, subsampling: str = "4:2:0") -> bytes:
    """The JPEG file Pillow (libjpeg-turbo) writes for ``pil`` at ``quality`` (grey images have no chroma)."""
    buf = io.BytesIO()
    if pil.mode == "RGB":
        pil.save(buf, format="JPEG", quality=int(quality), subsampling=subsampling)
    else:
        pil.save(buf, format="JPEG", quality=int(quality))
    return buf.getvalue()


def pillow_jpeg(array: np.ndarray, quality: int, subsampling: str = "4:2:0") -> np.ndarray:
    """The one Pillow JPEG round trip: uint8 H x W x 3 (or H x W) -> the decoded JPEG, same shape and dtype."""
    pil = Image.fromarray(array)
    with Image.open(io.BytesIO(pillow_jpeg_bytes(pil, quality, subsampling))) as dec:
        return np.asarray(dec if dec.mode == pil.mode else dec.convert(pil.mode), dtype=np.uint8)


def _on_threads(n: int, one: Callable[[int], None]) -> None:
    """one(i) for i in range(n), in contiguous chunks over ``torch.get_num_threads()`` worker threads (the codecs
    release the GIL while they encode and decode)."""
    workers = min(n, torch.get_num_threads())
    if workers <= 1:
        for i in range(n):
            one(i)
        return
    from concurrent.futures import ThreadPoolExecutor

    bounds = [n * w // workers for w in range(workers + 1)]
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda w: [one(i) for i in range(bounds[w], bounds[w + 1])], range(workers)))


def jpeg_pillow_u8(images: Tensor, values: Tensor, seed: Tensor = None) -> Tensor:
    """Real JPEG on uint8 Tensor[N, C, H, W] (any memory format, any device), values[:, 0] = quality: one Pillow
    (libjpeg-turbo) round trip per image, on worker threads. Returns uint8 Tensor[N, C, H, W]."""
    q = quality_to_int(values[:, 0].detach().cpu()).tolist()
    hwc = images.detach().cpu().permute(0, 2, 3, 1).numpy()  # a view for channels-last input
    out = np.empty(hwc.shape, dtype=np.uint8)
    c = hwc.shape[3]

    def one(i: int) -> None:
        a = pillow_jpeg(np.ascontiguousarray(hwc[i, :, :, 0] if c == 1 else hwc[i]), q[i])
        out[i] = a[..., None] if a.ndim == 2 else a

    _on_threads(hwc.shape[0], one)
    return torch.from_numpy(out).permute(0, 3, 1, 2).to(images.device)


def _gives_pillows_bits(round_trip: Callable[[Tensor, int], Tensor]) -> bool:
    """Whether ``round_trip(image u8 [1, C, H, W], quality)`` decodes to Pillow's pixels on a probe image, colour and
    grey, at qualities 5, 75 and 100 (another libjpeg build than Pillow's may round differently)."""
    probe = torch.arange(3 * 24 * 40, dtype=torch.int64).mul_(7919).remainder_(251).to(torch.uint8).reshape(1, 3, 24, 40)
    return all(torch.equal(round_trip(img, q), jpeg_pillow_u8(img, torch.tensor([[float(q)]])))
               for q in (5, 75, 100) for img in (probe, probe[:, :1]))


@functools.lru_cache(maxsize=None)
def turbo_codec() -> Optional[Tuple[Callable, Callable]]:
    """torchvision's libjpeg-turbo ops ``(encode(CHW uint8, q) -> bytes tensor, decode(bytes) -> CHW)``, called as
    torch ops (no Python around the codec, the GIL released), or None where this torchvision has none (they are
    deprecated in favour of TorchCodec) or where they do not give Pillow's bits on a test image (another libjpeg
    build): then :func:`jpeg_pillow_u8` does the work."""
    try:
        import torchvision.io  # noqa: F401  (loads torch.ops.image)

        encode, decode = torch.ops.image.encode_jpeg, torch.ops.image.decode_jpeg
        if not _gives_pillows_bits(lambda img, q: decode(encode(img[0], q), 0, False)[None]):
            return None
        return encode, (lambda data: decode(data, 0, False))
    except (ImportError, AttributeError, RuntimeError):
        return None


@functools.lru_cache(maxsize=None)
def native_codec() -> Optional[Callable[[Tensor, Tensor], Tensor]]:
    """Our batched libjpeg op ``torch.ops.distortx.jpeg_codec(images u8 [N, C, H, W], quality i64 [N])`` (the whole
    batch in one call on OpenMP threads; in builds that found libjpeg's header), or None where it is missing or
    does not give Pillow's bits on a probe image (another libjpeg than Pillow's libjpeg-turbo)."""
    try:
        from .._ext import native_available

        if not native_available() or not hasattr(torch.ops.distortx, "jpeg_codec"):
            return None
        op = torch.ops.distortx.jpeg_codec
        return op if _gives_pillows_bits(lambda img, q: op(img, torch.tensor([q]))) else None
    except (AttributeError, RuntimeError):
        return None


def jpeg_turbo_u8(images: Tensor, values: Tensor, seed: Tensor = None) -> Tensor:
    """:func:`jpeg_pillow_u8`'s result (the same bits: checked once per process) by the fastest codec route here:
    our batched libjpeg op (:func:`native_codec`), else torchvision's libjpeg-turbo ops on worker threads, else
    Pillow. uint8 Tensor[N, C, H, W] (any memory format, any device) -> uint8 Tensor[N, C, H, W] in channels-last
    memory (the decoder's own layout, so each image is written in place or copied once)."""
    q = quality_to_int(values[:, 0].detach().cpu())
    src = images.detach().cpu()
    op = native_codec()
    if op is not None:
        if not (src.is_contiguous() or src.is_contiguous(memory_format=torch.channels_last)):
            src = src.contiguous()
        return op(src, q.to(torch.int64)).to(images.device)
    codec = turbo_codec()
    if codec is None:
        return jpeg_pillow_u8(images, values, seed)
    encode, decode = codec
    qs = q.tolist()
    out = torch.empty(src.shape, dtype=torch.uint8, memory_format=torch.channels_last)

    def one(i: int) -> None:
        out[i].copy_(decode(encode(src[i], qs[i])))

    _on_threads(src.shape[0], one)
    return out.to(images.device)


def jpeg_pillow(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """Reference: real JPEG (Pillow / libjpeg-turbo), values[:, 0] = quality. (N,C,H,W) float -> (N,C,H,W): the
    images rounded to 8 bits, :func:`jpeg_pillow_u8`, back to [0, 1]."""
    out = jpeg_pillow_u8(to_uint8_image(images), values, seed)
    return out.float().div_(255.0).to(dtype=images.dtype).contiguous()


# -- simulation: libjpeg's integer pipeline in torch --------------------------------------------------------
def _fix(x: float) -> int:
    return int(x * 65536 + 0.5)


def quant_tables(quality: Tensor) -> tuple[Tensor, Tensor]:
    """IJG quality scaling (jpeg_set_quality, force_baseline). quality (N,) int -> luma, chroma (N, 8, 8) int64."""
    q = quality.to(torch.int64).clamp(1, 100)
    scale = torch.where(q < 50, 5000 // q, 200 - 2 * q).reshape(-1, 1, 1)
    out = []
    for base in (LUMA_TABLE, CHROMA_TABLE):
        b = torch.tensor(base, dtype=torch.int64, device=q.device).reshape(1, 8, 8)
        out.append(((b * scale + 50) // 100).clamp(1, 255))
    return out[0], out[1]


# jfdctint.c / jidctint.c constants: FIX(c) with CONST_BITS = 13
CONST_BITS, PASS1_BITS = 13, 2
F_0_298, F_0_390, F_0_541, F_0_765 = 2446, 3196, 4433, 6270
F_0_899, F_1_175, F_1_501, F_1_847 = 7373, 9633, 12299, 15137
F_1_961, F_2_053, F_2_562, F_3_072 = 16069, 16819, 20995, 25172


def _descale(x: Tensor, n: int) -> Tensor:
    """Round-half-up right shift: (x + 2^(n-1)) >> n."""
    return (x + (1 << (n - 1))) >> n


def _fdct_1d(d: List[Tensor], last: bool) -> List[Tensor]:
    """One 1-D pass of jpeg_fdct_islow on 8 int64 tensors d[0..7] (samples along the pass direction).
    Pass 1 (rows, ``last=False``) scales outputs by 2^PASS1_BITS; pass 2 (columns) removes it, leaving 8x DCT."""
    t0, t7 = d[0] + d[7], d[0] - d[7]
    t1, t6 = d[1] + d[6], d[1] - d[6]
    t2, t5 = d[2] + d[5], d[2] - d[5]
    t3, t4 = d[3] + d[4], d[3] - d[4]
    t10, t13 = t0 + t3, t0 - t3
    t11, t12 = t1 + t2, t1 - t2
    o: List[Tensor] = [t0] * 8
    if last:
        o[0], o[4] = _descale(t10 + t11, PASS1_BITS), _descale(t10 - t11, PASS1_BITS)
        sh = CONST_BITS + PASS1_BITS
    else:
        o[0], o[4] = (t10 + t11) << PASS1_BITS, (t10 - t11) << PASS1_BITS
        sh = CONST_BITS - PASS1_BITS
    z1 = (t12 + t13) * F_0_541
    o[2] = _descale(z1 + t13 * F_0_765, sh)
    o[6] = _descale(z1 - t12 * F_1_847, sh)
    # odd part
    z1, z2, z3, z4 = t4 + t7, t5 + t6, t4 + t6, t5 + t7
    z5 = (z3 + z4) * F_1_175
    t4, t5, t6, t7 = t4 * F_0_298, t5 * F_2_053, t6 * F_3_072, t7 * F_1_501
    z1, z2 = z1 * -F_0_899, z2 * -F_2_562
    z3, z4 = z3 * -F_1_961 + z5, z4 * -F_0_390 + z5
    o[7] = _descale(t4 + z1 + z3, sh)
    o[5] = _descale(t5 + z2 + z4, sh)
    o[3] = _descale(t6 + z2 + z3, sh)
    o[1] = _descale(t7 + z1 + z4, sh)
    return o


def _idct_1d(d: List[Tensor], last: bool) -> List[Tensor]:
    """One 1-D pass of jpeg_idct_islow on 8 int64 tensors d[0..7] (coefficients along the pass direction).
    Pass 1 (columns, ``last=False``) descales by CONST_BITS - PASS1_BITS; pass 2 (rows) by
    CONST_BITS + PASS1_BITS + 3. (libjpeg's all-AC-zero shortcuts give the same numbers.)"""
    z2, z3 = d[2], d[6]
    z1 = (z2 + z3) * F_0_541
    t2 = z1 - z3 * F_1_847
    t3 = z1 + z2 * F_0_765
    t0 = (d[0] + d[4]) << CONST_BITS
    t1 = (d[0] - d[4]) << CONST_BITS
    t10, t13, t11, t12 = t0 + t3, t0 - t3, t1 + t2, t1 - t2
    # odd part
    t0, t1, t2, t3 = d[7], d[5], d[3], d[1]
    z1, z2, z3, z4 = t0 + t3, t1 + t2, t0 + t2, t1 + t3
    z5 = (z3 + z4) * F_1_175
    t0, t1, t2, t3 = t0 * F_0_298, t1 * F_2_053, t2 * F_3_072, t3 * F_1_501
    z1, z2 = z1 * -F_0_899, z2 * -F_2_562
    z3, z4 = z3 * -F_1_961 + z5, z4 * -F_0_390 + z5
    t0, t1, t2, t3 = t0 + z1 + z3, t1 + z2 + z4, t2 + z2 + z3, t3 + z1 + z4
    sh = CONST_BITS + PASS1_BITS + 3 if last else CONST_BITS - PASS1_BITS
    return [_descale(t10 + t3, sh), _descale(t11 + t2, sh), _descale(t12 + t1, sh), _descale(t13 + t0, sh),
            _descale(t13 - t0, sh), _descale(t12 - t1, sh), _descale(t11 - t2, sh), _descale(t10 - t3, sh)]


def _pass(fn, x: Tensor, dim: int, last: bool) -> Tensor:
    return torch.stack(fn(list(x.unbind(dim)), last), dim)


def fdct_islow(blocks: Tensor) -> Tensor:
    """(..., 8 rows y, 8 cols x) int64 level-shifted samples -> (..., 8 v, 8 u) coefficients x 8."""
    return _pass(_fdct_1d, _pass(_fdct_1d, blocks, -1, False), -2, True)


def idct_islow(coefs: Tensor) -> Tensor:
    """(..., 8 v, 8 u) int64 dequantised coefficients -> (..., 8 y, 8 x) samples before the +128 shift."""
    return _pass(_idct_1d, _pass(_idct_1d, coefs, -2, False), -1, True)


def _range_limit(x: Tensor) -> Tensor:
    """libjpeg's post-IDCT range limit table indexed by x & 1023: x + 128 clamped to [0, 255] for
    -512 <= x <= 511 (wraps outside, as the C table does; never reached by real images)."""
    i = x & 1023
    return torch.where(i < 128, i + 128, torch.where(i < 512, torch.full_like(i, 255),
                       torch.where(i < 896, torch.zeros_like(i), i - 896)))


def _replicate(x: Tensor, h: int, w: int) -> Tensor:
    """Extend (..., H, W) to (..., h, w) (h >= H, w >= W) by repeating the last row / column."""
    rows = torch.arange(h, device=x.device).clamp_(max=x.shape[-2] - 1)
    cols = torch.arange(w, device=x.device).clamp_(max=x.shape[-1] - 1)
    return x.index_select(-2, rows).index_select(-1, cols)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def code_plane(x: Tensor, table: Tensor) -> Tensor:
    """Encode + decode one component. x (N, Hp, Wp) int64 samples, Hp and Wp multiples of 8 (already edge
    extended); table (N, 8, 8) int64. Returns decoded samples (N, Hp, Wp) int64 in [0, 255]."""
    n, hp, wp = x.shape
    blocks = (x - 128).reshape(n, hp // 8, 8, wp // 8, 8).permute(0, 1, 3, 2, 4)  # N, By, Bx, y, x
    coef = fdct_islow(blocks)
    q = table[:, None, None]  # N, 1, 1, 8, 8
    div = 8 * q
    k = torch.sign(coef) * ((coef.abs() + (div >> 1)) // div)
    out = _range_limit(idct_islow(k * q))
    return out.permute(0, 1, 3, 2, 4).reshape(n, hp, wp)


def downsample_h2v2(c: Tensor, h: int, w: int) -> Tensor:
    """Full-resolution chroma (N, H, W) int64 -> edge-extended 4:2:0 plane (N, 8*ceil(hc/8), Wc2/2) (step 2)."""
    hc = _ceil_div(h, 2)
    s = _replicate(c, 2 * hc, 16 * _ceil_div(w, 16))
    bias = torch.tensor([1, 2], dtype=torch.int64, device=c.device).repeat(s.shape[-1] // 4)
    d = (s[:, 0::2, 0::2] + s[:, 0::2, 1::2] + s[:, 1::2, 0::2] + s[:, 1::2, 1::2] + bias) >> 2
    return _replicate(d, 8 * _ceil_div(hc, 8), d.shape[-1])


def upsample_h2v2_fancy(c: Tensor) -> Tensor:
    """libjpeg's h2v2 "fancy" (triangular) upsampling of the real chroma plane (N, hc, wc) -> (N, 2hc, 2wc);
    plain 2x2 replication when wc <= 2 (libjpeg's own rule)."""
    n, hc, wc = c.shape
    if wc <= 2:
        return c.repeat_interleave(2, dim=1).repeat_interleave(2, dim=2)
    above = torch.cat([c[:, :1], c[:, :-1]], dim=1)
    below = torch.cat([c[:, 1:], c[:, -1:]], dim=1)
    v = torch.stack([3 * c + above, 3 * c + below], dim=2).reshape(n, 2 * hc, wc)
    left = torch.cat([v[..., :1], v[..., :-1]], dim=-1)
    right = torch.cat([v[..., 1:], v[..., -1:]], dim=-1)
    return torch.stack([(3 * v + left + 8) >> 4, (3 * v + right + 7) >> 4], dim=-1).reshape(n, 2 * hc, 2 * wc)


def rgb_to_ycc(r: Tensor, g: Tensor, b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """jccolor.c rgb_ycc_convert on int64 samples."""
    half, off = 1 << 15, 128 << 16
    y = (_fix(0.299) * r + _fix(0.587) * g + _fix(0.114) * b + half) >> 16
    cb = (-_fix(0.16874) * r - _fix(0.33126) * g + half * b + off + half - 1) >> 16
    cr = (half * r - _fix(0.41869) * g - _fix(0.08131) * b + off + half - 1) >> 16
    return y, cb, cr


def ycc_to_rgb(y: Tensor, cb: Tensor, cr: Tensor) -> Tensor:
    """jdcolor.c ycc_rgb_convert on int64 samples -> (N, 3, H, W) int64 in [0, 255]."""
    half = 1 << 15
    cb, cr = cb - 128, cr - 128
    r = y + ((_fix(1.402) * cr + half) >> 16)
    g = y + ((-_fix(0.34414) * cb - _fix(0.71414) * cr + half) >> 16)
    b = y + ((_fix(1.772) * cb + half) >> 16)
    return torch.stack([r, g, b], dim=1).clamp_(0, 255)


_UNIT = torch.arange(256, dtype=torch.float32) / 255.0  # computed once on the CPU: k -> k / 255


def _unit(samples: Tensor, dtype: torch.dtype) -> Tensor:
    """int64 samples in [0, 255] -> k / 255 with the CPU's bits on every device (CUDA divides a tensor by a
    Python scalar as a multiplication by its reciprocal, which is 1 ulp off for some k)."""
    return _UNIT.to(samples.device)[samples].to(dtype)


def jpeg_simulate(images: Tensor, values: Tensor, seed: Tensor) -> Tensor:
    """Simulation: libjpeg's baseline pipeline in batched integer torch, values[:, 0] = quality (per sample).
    (N,C,H,W) float -> (N,C,H,W) float (multiples of 1/255), on the input's device. Bit-exact with
    :func:`jpeg_pillow` (see the module docstring for the math)."""
    n, c, h, w = images.shape
    u = to_uint8_image(images).to(torch.int64)
    luma_q, chroma_q = quant_tables(quality_to_int(values[:, 0]).to(images.device))
    hp, wp = 8 * _ceil_div(h, 8), 8 * _ceil_div(w, 8)
    if c == 1:
        y = code_plane(_replicate(u[:, 0], hp, wp), luma_q)[:, :h, :w]
        return _unit(y.unsqueeze(1), images.dtype)
    y, cb, cr = rgb_to_ycc(u[:, 0], u[:, 1], u[:, 2])
    y = code_plane(_replicate(y, hp, wp), luma_q)[:, :h, :w]
    hc, wc = _ceil_div(h, 2), _ceil_div(w, 2)
    chroma = [upsample_h2v2_fancy(code_plane(downsample_h2v2(p, h, w), chroma_q)[:, :hc, :wc])[:, :h, :w]
              for p in (cb, cr)]
    return _unit(ycc_to_rgb(y, *chroma), images.dtype)


SPECS = (
    DistortionSpec(
        name="jpeg",
        parameters=(Parameter("quality", 1.0, 100.0, doc="JPEG quality factor (IJG scale)", integer=True),),
        reference=jpeg_pillow,
        levels=(
            LevelSet("ahn", (20.0, 10.0, 5.0), source=AHN),
            LevelSet("endo", tuple(float(q) for q in range(100, 0, -1)), source=ENDO + " (q ~ U{1..100})"),
            LevelSet("dodge", tuple(float(q) for q in range(20, 0, -2)), source=DODGE),
        ),
        default_levels="ahn",
        description="baseline JPEG compression (YCbCr 4:2:0, IJG tables scaled by quality), Pillow/libjpeg",
        source=f"{AHN}; {ENDO}; {DODGE}",
        severity="decreasing",
        identity=None,
        simulation=jpeg_simulate,
        native=True,
        reference_uint8=jpeg_turbo_u8,
    ),
)
