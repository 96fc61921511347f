"""Worker processes for distortions that run image by image on the CPU (JPEG 2000 through Pillow/OpenJPEG).

Pillow keeps the GIL while OpenJPEG encodes to a Python file object, so threads do not help; a batch is cut
into one chunk per worker and each worker runs ``spec.apply`` on its chunk. Every image's output depends
only on its own pixels and parameters, so the result equals ``spec.apply`` on the whole batch, bit for bit.

Workers are forked on Linux while CUDA is not initialised in this process (fast: nothing to re-import),
spawned otherwise; each uses one torch thread. The pool starts at its first use.
"""
from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch
from torch import Tensor

from ...distortions.spec import DistortionSpec, Params
from ...processes import die_with_parent


def _init_worker(parent_pid: int) -> None:
    die_with_parent(parent_pid)
    torch.set_num_threads(1)


def _apply_chunk(name: str, images: np.ndarray, values: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """In a worker: ``get_distortion(name).apply`` on float32 images [b, C, H, W] -> float32 [b, C, H, W]."""
    from ...registry import get_distortion

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
            self._executor = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                                 initargs=(os.getpid(),))
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


class CodecCache:
    """A folder of per-image codec outputs, addressed by content: the key of a batch is the sha256 of the
    distortion's name, the input pixels (float32 bytes, shape) and the parameters (values, seeds), so a hit is
    the output of exactly that call (e.g. two models swept over the same data and protocol share their JPEG
    2000 renders). An output whose values are all multiples of 1/255 (the codec's decode) is stored as uint8
    ``.npy``, other outputs as float32; both load back bit for bit. Writes are atomic (rename)."""

    def __init__(self, folder: Union[str, os.PathLike]):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.hits = self.misses = 0

    def key(self, name: str, images: Tensor, params: Params) -> str:
        h = hashlib.sha256(f"distortx-codec-cache-v1\0{name}\0{tuple(images.shape)}\0".encode())
        h.update(images.detach().float().cpu().contiguous().numpy().tobytes())
        h.update(params.values.detach().float().cpu().contiguous().numpy().tobytes())
        h.update(params.seed.detach().long().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()

    def get(self, key: str) -> Optional[Tensor]:
        """float32 Tensor of a stored output, or None."""
        for suffix, scale in (("u8", 255.0), ("f32", None)):
            path = self.folder / f"{key}.{suffix}.npy"
            if path.is_file():
                try:
                    arr = np.load(path, allow_pickle=False)
                except (OSError, ValueError):
                    continue  # a damaged entry: recompute it
                self.hits += 1
                out = torch.from_numpy(arr)
                return out.float().div_(scale) if scale else out
        self.misses += 1
        return None

    def put(self, key: str, out: Tensor) -> None:
        x = out.detach().float().cpu()
        u8 = x.mul(255.0).round_()
        if bool(((u8 / 255.0) == x).all()) and bool(((u8 >= 0) & (u8 <= 255)).all()):
            arr, suffix = u8.to(torch.uint8).numpy(), "u8"
        else:
            arr, suffix = x.numpy(), "f32"
        tmp = self.folder / f".{key}.{os.getpid()}.tmp.npy"
        np.save(tmp, arr, allow_pickle=False)
        os.replace(tmp, self.folder / f"{key}.{suffix}.npy")


__all__ = ["CodecCache", "CodecPool"]
