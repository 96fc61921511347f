"""The ImageNet-C / imagecorruptions corruptions, batched, seeded and on any device, with imagecorruptions' face::

    from distortx.corruptions import corrupt, get_corruption_names   # was: from imagecorruptions import ...
    out = corrupt(image, corruption_name="fog", severity=3, seed=0)

``image``: uint8 H x W x 3 (or H x W) numpy as imagecorruptions takes, and also tensors (C, H, W) / batches
(N, C, H, W), float in [0, 1] or uint8; the result has the input's type and layout (a grey H x W array comes back
H x W x 3, as imagecorruptions returns it). uint8 results are truncated as imagecorruptions' ``np.uint8`` does.
Each corruption is also a catalogue entry ``imagenet_c_<name>`` (plugin.py) for ``distortx.distort``, presets
and robustness sweeps."""
from __future__ import annotations

from typing import List, Optional

import numpy as np
import torch

from ..distortions.edges import from_batch, to_batch
from ..distortions.spec import Params, check_seed
from ..errors import ParameterError, UnknownNameError
from .common import native_op
from .constants import NAMES, SUBSETS
from .plugin import PREFIX, spec_of
from .weather import frost_source


def get_corruption_names(subset: str = "common") -> List[str]:
    """imagecorruptions' names: "common" (15), "validation" (4), "all" (19), "noise", "blur", "weather", "digital"."""
    if subset not in SUBSETS:
        raise UnknownNameError("corruption subset", subset, list(SUBSETS))
    return list(SUBSETS[subset])


def corrupt(image, severity: int = 1, corruption_name: Optional[str] = None, corruption_number: int = -1,
            seed: int = 0, device: Optional[str] = None):
    """``image`` corrupted by one corruption (by name, or its number 0..18 in imagecorruptions' order) at
    ``severity`` 1..5. ``seed`` fixes the random draws (sample i of a batch uses seed + i). ``device``: where to
    compute (default: the input's device; numpy on the CPU)."""
    if corruption_name is None:
        if not 0 <= int(corruption_number) < len(NAMES):
            raise ParameterError("give corruption_name or a corruption_number in 0..18")
        corruption_name = NAMES[int(corruption_number)]
    if corruption_name not in NAMES:
        raise UnknownNameError("corruption", corruption_name, list(NAMES))
    if isinstance(severity, bool) or severity not in (1, 2, 3, 4, 5):
        raise ParameterError(f"severity must be an integer in 1..5, got {severity!r}")
    seed = check_seed(seed)
    grey_numpy = isinstance(image, np.ndarray) and image.ndim == 2
    if grey_numpy:
        image = np.repeat(image[..., None], 3, axis=2)
    spec = spec_of(corruption_name)
    batch, fmt = to_batch(image, keep_uint8=True)
    if device is not None:
        batch = batch.to(device)
    if batch.dtype == torch.uint8 and spec.reference_uint8 is not None:
        per = max(batch.shape[0], 1)  # a uint8 form makes no float temporaries; its op runs the batch on all threads
    else:
        per = max(1, CHUNK_BYTES // max(1, batch.shape[1:].numel() * 4))
    parts = [_corrupt_batch(spec, batch[i: i + per], severity, seed + i) for i in range(0, max(batch.shape[0], 1), per)]
    out = parts[0] if len(parts) == 1 else torch.cat(parts)
    return from_batch(out, fmt)


#: a batch is corrupted in chunks of about this many bytes of float32 images (at least one image): every sample's
#: result is its own (seed + i), and a chunk's torch temporaries stay in reused heap memory and the caches. Measured
#: per image on 16 x 224 x 224 batches, one thread: whole batches up to 4x slower than chunks of 1-2 images (fresh
#: pages for every big temporary); 1 MB = one 224-px image, 85 CIFAR images
CHUNK_BYTES = 1 << 20


def _corrupt_batch(spec, batch, severity: int, seed: int):
    """One chunk: uint8 through the corruption's uint8 form where it has one, else float; the result as uint8
    (truncated as imagecorruptions' np.uint8 does) for uint8 input, float in [0, 1] otherwise."""
    n = batch.shape[0]
    params = Params(torch.full((n, 1), float(severity), device=batch.device),
                    torch.arange(seed, seed + n, dtype=torch.int64, device=batch.device),
                    torch.full((n,), severity - 1, dtype=torch.int64, device=batch.device))
    if batch.dtype == torch.uint8 and spec.reference_uint8 is not None:  # JPEG, pixelate: no float step
        return spec.reference_uint8(batch, params.values, params.seed)
    u8 = batch.dtype == torch.uint8
    native = u8 and batch.device.type == "cpu" and native_op("unit_to_u8")   # each conversion in one C++ pass
    # NCHW-contiguous float (a numpy H x W x 3 image arrives as a channels-last view: torch's convolutions and
    # reductions take slower paths on it, 3x for the gaussian blur of one 224-px image)
    if native:
        x = torch.ops.distortx.u8_to_unit(batch)
    else:
        x = (batch.float() / 255.0 if u8 else batch.float()).contiguous()
    out = spec.reference(x, params.values, params.seed)
    if native:   # channels last for channels-last input: a numpy H x W x 3 image goes back without another copy
        last = batch.shape[1] > 1 and batch.is_contiguous(memory_format=torch.channels_last) and not batch.is_contiguous()
        return torch.ops.distortx.unit_to_u8(out.float(), last)
    out = out.clamp(0, 1)
    if u8:  # truncate as imagecorruptions' np.uint8(float image) does
        return torch.floor(out * 255.0 + 1e-3).to(torch.uint8)
    return out


__all__ = ["NAMES", "PREFIX", "SUBSETS", "corrupt", "frost_source", "get_corruption_names"]
