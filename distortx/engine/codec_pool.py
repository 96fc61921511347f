"""Worker processes for distortions that run image by image on the CPU (JPEG 2000 through Pillow/OpenJPEG).

Pillow keeps the GIL while OpenJPEG encodes to a Python file object, so threads do not help; a batch is cut
into one chunk per worker and each worker runs ``spec.apply`` on its chunk. Every image's output depends
only on its own pixels and parameters, so the result equals ``spec.apply`` on the whole batch, bit for bit.

Workers are forked on Linux while CUDA is not initialised in this process (fast: nothing to re-import),
spawned otherwise; each uses one torch thread. The pool starts at its first use.
"""
from __future__ import annotations

import multiprocessing as mp
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from ..distortions.spec import DistortionSpec, Params


def _init_worker() -> None:
    torch.set_num_threads(1)


def _apply_chunk(name: str, images: np.ndarray, values: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """In a worker: ``get_distortion(name).apply`` on float32 images [b, C, H, W] -> float32 [b, C, H, W]."""
    from ..registry import get_distortion

    spec = get_distortion(name)
    params = Params(torch.from_numpy(values), torch.from_numpy(seeds), torch.full((len(seeds),), -1, dtype=torch.long))
    return spec.apply(torch.from_numpy(images), params).numpy()


class CodecPool:
    """``workers`` processes applying per-image distortions to chunks of a batch (see the module docstring)."""

    def __init__(self, workers: int):
        self.workers = int(workers)
        self._executor: Optional[ProcessPoolExecutor] = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            fork_ok = sys.platform.startswith("linux") and not torch.cuda.is_initialized()
            ctx = mp.get_context("fork" if fork_ok else "spawn")
            self._executor = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker)
        return self._executor

    def apply(self, spec: DistortionSpec, images: Tensor, params: Params) -> Tensor:
        """``spec.apply(images, params)`` with the batch split over the workers. images: float Tensor[B, C, H, W]
        on any device; returns Tensor[B, C, H, W] on that device."""
        B = images.shape[0]
        if self.workers < 2 or B < 2:
            return spec.apply(images, params)
        spec.check_params(params, B)
        cpu = images.detach().float().cpu().numpy()
        values = params.values.float().cpu().numpy()
        seeds = params.seed.long().cpu().numpy()
        step = -(-B // self.workers)
        futures = [self._pool().submit(_apply_chunk, spec.name, cpu[s:s + step], values[s:s + step], seeds[s:s + step])
                   for s in range(0, B, step)]
        out = np.concatenate([f.result() for f in futures])
        return torch.from_numpy(out).to(device=images.device, dtype=images.dtype)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None


__all__ = ["CodecPool"]
