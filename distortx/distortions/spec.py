"""The typed objects a distortion plugin returns: parameters, level sets, the distortion itself.

A distortion is data plus two functions, kornia-style: ``spec.sample(n, generator)`` draws parameters
(the labels of a dataset), ``spec.apply(images, params)`` applies them. Sampling never touches pixels and
applying never draws from torch's global RNG: stochastic distortions (noise) derive their noise from the
per-sample ``seed`` through the counter-based generator in :mod:`distortx.distortions.rng`, which the native
kernels implement identically.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from ..errors import ImageError, ParameterError, UnknownNameError

#: (images N,C,H,W float in [0,1], values N,P float32, seed N int64) -> images N,C,H,W
ApplyFn = Callable[[Tensor, Tensor, Tensor], Tensor]
#: columns of the fused native op's values tensor: the most parameters a spec with a native code may have
MAX_NATIVE_PARAMS = 4


@dataclass(frozen=True)
class Parameter:
    """One scalar parameter of a distortion with its valid closed range ``[low, high]``."""

    name: str
    low: float
    high: float
    doc: str = ""
    integer: bool = False
    sampling: Optional[tuple[float, float]] = None  # range drawn by ``sample`` for a secondary parameter

    @property
    def sample_range(self) -> tuple[float, float]:
        return self.sampling if self.sampling is not None else (self.low, self.high)

    def check(self, values, distortion: str) -> None:
        """Raise :class:`ParameterError` if any value is NaN/inf or outside ``[low, high]``. ``values``: a Tensor
        or numpy array (checked in numpy on the host: a few small tensor ops had cost ~30 us per call)."""
        v = values.detach().double().cpu().numpy() if isinstance(values, Tensor) else np.asarray(values, np.float64)
        if v.size == 0:
            return
        finite = np.isfinite(v)
        if not finite.all():
            raise ParameterError(f"{distortion}: parameter {self.name!r} must be finite, got {v[~finite].flat[0]}")
        lo, hi = float(v.min()), float(v.max())
        if lo < self.low - 1e-9 or hi > self.high + 1e-9:
            bad = lo if lo < self.low - 1e-9 else hi
            raise ParameterError(
                f"{distortion}: parameter {self.name!r}={bad:g} is outside its range [{self.low:g}, {self.high:g}]"
            )


@dataclass(frozen=True)
class LevelSet:
    """A paper's named values of a distortion's first (severity) parameter, ordered mild -> severe
    (level 0 is the mildest; for a "decreasing" distortion such as JPEG quality the values fall).

    ``continuous=True`` means the paper samples uniformly between ``min(values)`` and ``max(values)``
    ("variable" levels); otherwise a level is an index into ``values``. ``graded=False`` says that neighbouring
    levels are not ordered by damage, only the first and the last (ImageNet-C's saturate: gain 2 at severity 3
    changes an image less than gain 0.1 at severity 2).
    """

    name: str
    values: tuple[float, ...]
    source: str = ""
    continuous: bool = False
    graded: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(float(v) for v in self.values))


@dataclass(frozen=True)
class Params:
    """Sampled parameters of a batch for one distortion: these are a dataset's labels.

    values: Tensor[N, P] float32, column ``j`` is ``spec.parameters[j]`` (column 0 = severity parameter).
    seed:   Tensor[N] int64, counter-RNG seed of each sample (used by stochastic distortions).
    level:  Tensor[N] int64, index into the level set used, or -1 when sampled from a continuous range.
    """

    values: Tensor
    seed: Tensor
    level: Tensor

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def __getitem__(self, idx) -> "Params":
        if isinstance(idx, int):
            idx = slice(idx, idx + 1)
        return Params(self.values[idx], self.seed[idx], self.level[idx])

    def to(self, device) -> "Params":
        return Params(self.values.to(device), self.seed.to(device), self.level.to(device))

    @staticmethod
    def cat(parts: Sequence["Params"]) -> "Params":
        return Params(*(torch.cat([getattr(p, f) for p in parts]) for f in ("values", "seed", "level")))


#: seeds are non-negative 63-bit integers (torch.Generator, the counter RNG and the manifests all hold them)
MAX_SEED = 2**63 - 1


def check_seed(seed, who: str = "seed") -> int:
    """``seed`` as an int, or :class:`ParameterError` unless it is an integer in [0, 2^63 - 1]."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ParameterError(f"{who} must be an integer in [0, 2^63 - 1], got {seed!r}")
    if not 0 <= int(seed) <= MAX_SEED:
        raise ParameterError(f"{who} must be an integer in [0, 2^63 - 1], got {int(seed)}")
    return int(seed)


def check_images(images: Tensor, who: str = "images", uint8: bool = False) -> None:
    """Raise :class:`ImageError` unless ``images`` is a float (or, with ``uint8``, uint8) Tensor[N, C, H, W] with
    C in {1, 3}."""
    if not isinstance(images, Tensor):
        raise ImageError(f"{who} must be a torch.Tensor, got {type(images).__name__}")
    if images.dim() != 4:
        raise ImageError(f"{who} must have shape (N, C, H, W), got {tuple(images.shape)}")
    if uint8 and images.dtype == torch.uint8:
        pass
    elif uint8 and not images.is_floating_point():
        raise ImageError(f"{who} must be float in [0, 1] or uint8, got dtype {images.dtype}")
    elif not images.is_floating_point():
        raise ImageError(f"{who} must be float in [0, 1], got dtype {images.dtype} (convert with x.float() / 255)")
    if images.shape[1] not in (1, 3):
        raise ImageError(f"{who} must have 1 or 3 channels, got {images.shape[1]}")
    if images.shape[2] < 1 or images.shape[3] < 1:
        raise ImageError(f"{who} must be at least 1x1, got {tuple(images.shape[2:])}")


@dataclass(frozen=True, eq=False)
class DistortionSpec:
    """A distortion type, as a plugin registers it.

    name:        unique lower-case identifier (``[a-z][a-z0-9_]*``).
    parameters:  its scalar parameters; ``parameters[0]`` is the severity parameter that levels refer to.
    reference:   the pure-PyTorch (or codec) implementation, ``(images, values, seed) -> images``.
    levels:      the papers' named level sets of ``parameters[0]``; ``default_levels`` names one of them.
    severity:    "increasing" if a larger ``parameters[0]`` is a stronger distortion, "decreasing" otherwise
                 (JPEG quality, JPEG2000 target PSNR).
    identity:    value of ``parameters[0]`` at which the distortion is the identity, if there is one.
    simulation:  optional torch re-implementation of a codec that the native kernel mirrors (JPEG).
    native: True when the fused native kernel has this distortion under its name (built-ins); its op code
    (``native_code``) is derived from the name. False: only the reference path exists.
    stochastic:  True if the output depends on ``Params.seed``.
    reference_uint8: optional form of ``reference`` on uint8 Tensor[N, C, H, W] -> uint8 (same values as the
    reference on images / 255, rounded back), used for uint8 input: a codec that works on 8-bit samples (JPEG).
    ``impl="auto"`` takes it for uint8 images on the CPU (JPEG: Pillow, which the kernel equals bit for bit).
    """

    name: str
    parameters: tuple[Parameter, ...]
    reference: ApplyFn
    levels: tuple[LevelSet, ...] = ()
    default_levels: Optional[str] = None
    description: str = ""
    source: str = ""
    severity: str = "increasing"
    identity: Optional[float] = None
    simulation: Optional[ApplyFn] = None
    native: bool = False
    stochastic: bool = False
    reference_uint8: Optional[ApplyFn] = None
    plugin: str = field(default="", compare=False)  # filled in by the plugin manager

    # -- level sets -------------------------------------------------------------------------------------
    def level_set(self, name: Optional[str] = None) -> LevelSet:
        """The named level set (default: ``default_levels``, else the first)."""
        if not self.levels:
            raise ParameterError(f"{self.name} declares no level sets; pass a parameter value instead")
        name = name or self.default_levels or self.levels[0].name
        for ls in self.levels:
            if ls.name == name:
                return ls
        raise UnknownNameError(f"level set of {self.name}", name, [ls.name for ls in self.levels])

    @property
    def num_params(self) -> int:
        return len(self.parameters)

    # -- validation -------------------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise :class:`ParameterError` (one line naming the distortion) if this spec is malformed: no
        parameters, an empty or inverted range, levels outside the severity parameter's range or not ordered
        mild -> severe, an unknown default level set, an identity outside the range, or a native code that
        is not the built-in kernel of this name. The plugin manager calls it for every registered spec."""
        problem = self._problem()
        if problem:
            raise ParameterError(f"distortion {self.name!r}: {problem}")

    def _problem(self) -> Optional[str]:
        if not self.parameters:
            return "declares no parameters"
        for p in self.parameters:
            if not (math.isfinite(p.low) and math.isfinite(p.high)) or p.low >= p.high:
                return f"parameter {p.name!r} has an invalid range [{p.low}, {p.high}]"
        if not callable(self.reference):
            return "reference is not callable"
        if self.severity not in ("increasing", "decreasing"):
            return f"severity must be 'increasing' or 'decreasing', got {self.severity!r}"
        p0 = self.parameters[0]
        names = [ls.name for ls in self.levels]
        if len(set(names)) != len(names):
            return f"duplicate level set names {names}"
        sign = 1 if self.severity == "increasing" else -1
        for ls in self.levels:
            if not ls.values:
                return f"level set {ls.name!r} is empty"
            for v in ls.values:
                if not math.isfinite(v) or v < p0.low or v > p0.high:
                    return f"level {v:g} of level set {ls.name!r} is outside [{p0.low:g}, {p0.high:g}] of {p0.name!r}"
            if any(sign * (b - a) < 0 for a, b in zip(ls.values, ls.values[1:])):
                return f"level set {ls.name!r} must be ordered mild -> severe ({self.severity} severity), got {ls.values}"
        if self.default_levels is not None and self.default_levels not in names:
            return f"default_levels {self.default_levels!r} is not one of its level sets {names}"
        if self.native:
            from .native_codes import NATIVE_CODES

            if self.name not in NATIVE_CODES:
                return (f"native=True, but the native kernel has no distortion named {self.name!r} (its codes name "
                        f"the built-ins: {', '.join(NATIVE_CODES)}); leave native=False to run the reference path")
            if len(self.parameters) > MAX_NATIVE_PARAMS:
                return f"a native kernel takes at most {MAX_NATIVE_PARAMS} parameters"
        if self.identity is not None and not (p0.low <= self.identity <= p0.high):
            return f"identity value {self.identity} is outside the range of {p0.name!r}"
        return None

    # -- sampling ---------------------------------------------------------------------------------------
    def sample(
        self,
        n: int,
        generator: Optional[torch.Generator] = None,
        levels: Optional[str] = None,
        level: Optional[int] = None,
        variable: bool = False,
        device=None,
    ) -> Params:
        """Draw parameters for ``n`` images.

        levels:   name of the level set (default ``default_levels``).
        level:    fix the level index (0 = mildest) of a discrete set; default: uniform over the set's levels.
                  A continuous set (uniform between its min and max) has no levels: a level is refused.
        variable: sample the severity uniformly between the set's min and max (Ahn's detection protocol,
                  Hsieh's variable levels) instead of picking one of its values.
        device:   where the parameters are drawn and returned (default: ``generator``'s device, else CPU);
                  ``generator=None`` uses torch's default generator of that device.
        Secondary parameters (``parameters[1:]``) are uniform in their ranges. Uses only ``generator``.
        """
        g = generator
        dev = torch.device(device) if device is not None else (g.device if g is not None else torch.device("cpu"))
        ls = self.level_set(levels) if self.levels else None
        p0 = self.parameters[0]

        def uniform(lo: float, hi: float) -> Tensor:
            return lo + (hi - lo) * torch.rand(n, generator=g, dtype=torch.float64, device=dev)

        if level is not None and (ls is None or variable or ls.continuous):
            raise ParameterError(self._no_levels_message(ls, level, variable))
        if ls is None:
            lvl = torch.full((n,), -1, dtype=torch.long, device=dev)
            v0 = uniform(p0.low, p0.high)
        elif variable or ls.continuous:
            lvl = torch.full((n,), -1, dtype=torch.long, device=dev)
            v0 = uniform(min(ls.values), max(ls.values))
        else:
            if level is None:
                lvl = torch.randint(len(ls.values), (n,), generator=g, device=dev)
            else:
                if isinstance(level, bool) or not float(level).is_integer():
                    raise ParameterError(f"{self.name}: a level is an integer index into level set {ls.name!r} "
                                         f"(0..{len(ls.values) - 1}), got {level!r}; give a parameter value with value=")
                if not 0 <= level < len(ls.values):
                    raise ParameterError(
                        f"{self.name}: level {level} does not exist in level set {ls.name!r} "
                        f"(levels 0..{len(ls.values) - 1})"
                    )
                lvl = torch.full((n,), int(level), dtype=torch.long, device=dev)
            v0 = torch.tensor(ls.values, dtype=torch.float64, device=dev)[lvl]
        cols = [v0]
        for p in self.parameters[1:]:
            cols.append(uniform(*p.sample_range))
        values = torch.stack(cols, dim=1)
        for j, p in enumerate(self.parameters):
            if p.integer:
                values[:, j] = values[:, j].round()
        seed = torch.randint(0, 2**31 - 1, (n,), generator=g, dtype=torch.long, device=dev)
        return Params(values.float(), seed, lvl)

    def _no_levels_message(self, ls: Optional[LevelSet], level: int, variable: bool) -> str:
        if ls is None:
            return f"{self.name} declares no level sets, so level {level} means nothing: give a parameter value"
        discrete = [s.name for s in self.levels if not s.continuous]
        other = f", or a discrete level set ({', '.join(discrete)})" if discrete else ""
        lo, hi = min(ls.values), max(ls.values)
        why = "variable=True draws" if variable and not ls.continuous else f"level set {ls.name!r} is continuous: it draws"
        return (f"{self.name}: {why} {self.parameters[0].name} uniformly in [{lo:g}, {hi:g}], so level {level} means "
                f"nothing; give a value in that range instead (--param){other}")

    def params(self, *values: float, n: int = 1, seed: int = 0, **named: float) -> Params:
        """Explicit parameters: ``spec.params(3.0)`` or ``spec.params(sigma=3.0)``; secondary parameters not
        given take the middle of their range. Replicated ``n`` times with seeds ``seed, seed+1, ...``."""
        row = []
        for j, p in enumerate(self.parameters):
            if j < len(values):
                row.append(float(values[j]))
            elif p.name in named:
                row.append(float(named.pop(p.name)))
            else:
                row.append(0.5 * sum(p.sample_range))
        if named:
            raise UnknownNameError(f"parameter of {self.name}", next(iter(named)), [p.name for p in self.parameters])
        vals = torch.tensor([row] * n, dtype=torch.float32)
        return Params(vals, torch.arange(seed, seed + n, dtype=torch.long), torch.full((n,), -1, dtype=torch.long))

    # -- applying ---------------------------------------------------------------------------------------
    def check_params(self, params: Params, n: int) -> None:
        if params.values.dim() != 2 or params.values.shape != (n, self.num_params):
            raise ParameterError(
                f"{self.name}: params.values must have shape ({n}, {self.num_params}), got {tuple(params.values.shape)}"
            )
        for j, p in enumerate(self.parameters):
            p.check(params.values[:, j], self.name)

    def apply(self, images, params: Params, impl: str = "auto"):
        """Distort ``images`` with per-sample ``params`` (one row per image).

        images: Tensor[N, C, H, W] or Tensor[C, H, W] (float in [0, 1] or uint8, any device), or a numpy
        array (H, W), (H, W, C) or (N, H, W, C) (uint8 or float); C in {1, 3}.
        impl: "auto" (the fused native kernel when the extension has one for this distortion and device, else
        the reference), "native" (the kernel, or NativeUnavailableError), "python" (``reference``: the ground
        truth, a real codec where there is one). :meth:`simulate` runs the kernel's torch twin.
        Returns a new image of the type, layout, dtype and device given, clamped to [0, 1] (0..255 for uint8).
        """
        from .edges import from_batch, to_batch

        batch, fmt = to_batch(images, keep_uint8=True)
        return from_batch(self.apply_batch(batch, params, impl), fmt)

    def simulate(self, images, params: Params):
        """:meth:`apply` through ``simulation``, the torch re-implementation the native kernel mirrors bit for
        bit (JPEG's integer pipeline); the reference for distortions without one. Same inputs and outputs."""
        from .edges import from_batch, to_batch

        batch, fmt = to_batch(images)
        self._check(batch, params)
        return from_batch(self._run_python(batch, params, self.simulation or self.reference), fmt)

    def apply_batch(self, images: Tensor, params: Params, impl: str = "auto") -> Tensor:
        """:meth:`apply` on a float or uint8 Tensor[N, C, H, W]; the result has its dtype (uint8 results are
        rounded half to even; on the CPU the native kernel's uint8 path never converts to float)."""
        self._check(images, params)
        from .._ext import resolve_impl

        path = resolve_impl(impl, self.name, images.device, op="distort")
        if impl == "auto" and self.reference_uint8 is not None and images.dtype == torch.uint8 and images.device.type == "cpu":
            path = "python"  # the uint8 reference on the CPU: a codec the kernel mirrors (JPEG: equal, ~5x faster)
        if path == "native" and self.native_code is None:
            if impl == "native":
                from ..errors import NativeUnavailableError

                raise NativeUnavailableError(f"{self.name} has no native kernel (native=False): use impl='auto' or 'python'")
            path = "python"
        if images.shape[0] == 0 or path == "python":
            return self._run_python(images, params, self.reference)
        from .native_slot import native_apply

        return native_apply()(self, images, params)

    @property
    def native_code(self) -> Optional[int]:
        """The op code of this distortion in the fused native kernel (from its name), or None."""
        if not self.native:
            return None
        from .native_codes import NATIVE_CODES

        return NATIVE_CODES.get(self.name)

    def _check(self, images: Tensor, params: Params) -> None:
        check_images(images, uint8=True)
        self.check_params(params, images.shape[0])

    def _run_python(self, images: Tensor, params: Params, fn: ApplyFn) -> Tensor:
        if images.shape[0] == 0:
            return images.clone()
        dtype = images.dtype
        values = params.values.to(device=images.device, dtype=torch.float32)
        seed = params.seed.to(device=images.device)
        if dtype == torch.uint8:
            if fn is self.reference and self.reference_uint8 is not None:
                return self.reference_uint8(images, values, seed)
            from ..io import to_uint8_image

            return to_uint8_image(fn(images.float().div_(255.0), values, seed))
        out = fn(images.float(), values, seed)
        return out.clamp_(0.0, 1.0).to(dtype)

    __call__ = apply


def finite(x: float) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)
