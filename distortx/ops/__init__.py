"""Python face of the native ops: each op has a pure-PyTorch reference path and ``impl="auto"|"native"|"python"``.

- :func:`distort_codes` (op codes, values, boxes, seeds per region) and :func:`distort_batch` (Region lists): the
  fused batched distortion (every image its own regions and types);
  :func:`apply_regions` the same for one image.
- :func:`batched_nms`, :func:`ssd_postprocess`: SSD box post-processing.
- ``fakes``: their fake (meta) kernels for ``torch.compile`` / ``opcheck``, registered here on import.
"""
from . import fakes  # noqa: F401  (registers the fake kernels)
from .fused import distort_codes, distort_batch
from .nms import batched_nms
from .regions import apply_regions
from .ssd_postprocess import ssd_postprocess

__all__ = ["apply_regions", "batched_nms", "distort_batch", "distort_codes", "ssd_postprocess"]
