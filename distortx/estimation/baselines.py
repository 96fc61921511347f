"""Non-learned baselines beside the estimators in Endo's tables: JPEG quality from the file's own
quantisation tables (:mod:`distortx.estimation.qtables`) and, for noise, scikit-image's wavelet-based
``skimage.restoration.estimate_sigma`` (Donoho's MAD of the finest diagonal sub-band)."""
from __future__ import annotations


import numpy as np
import torch
from torch import Tensor

from ..errors import DistortxError
from .qtables import quality_from_jpeg


def noise_sigma_skimage(images: Tensor) -> Tensor:
    """Per-image sigma (0..255 scale) by ``estimate_sigma`` averaged over channels: images float
    Tensor[N, 3, H, W] in [0, 1] -> Tensor[N] (CPU)."""
    try:
        from skimage.restoration import estimate_sigma
    except ImportError as exc:
        raise DistortxError("the noise baseline needs scikit-image: pip install scikit-image") from exc
    arr = images.detach().float().cpu().permute(0, 2, 3, 1).numpy()
    return torch.tensor([255.0 * float(estimate_sigma(a, channel_axis=-1, average_sigmas=True)) for a in arr])


def jpeg_quality_pillow_tables(images: Tensor, quality: int) -> Tensor:
    """Encode each image (float Tensor[N, 3, H, W]) with Pillow at ``quality`` and read the quality back
    from the file's quantisation tables: Tensor[N] (the baseline's answer when the JPEG file is at hand)."""
    from ..distortions.jpeg import pillow_jpeg_bytes
    from ..io import tensor_to_pil

    out = [quality_from_jpeg(pillow_jpeg_bytes(tensor_to_pil(img), quality)).quality for img in images.detach().cpu()]
    return torch.tensor(np.asarray(out, dtype=np.float32))
