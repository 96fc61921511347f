"""A learning-rate schedule that fits a wall-clock budget: linear warm-up, then cosine decay to 1% of the
peak over ``steps``; with ``seconds`` set, the step count is re-planned as the time per step becomes known,
so a run ends near its budget whatever the machine and still completes its decay."""
from __future__ import annotations

import math
import time
from typing import Optional

import torch


class BudgetSchedule:
    """steps: planned (maximum) steps; seconds: wall-clock budget or None; warmup: warm-up steps.
    Call :meth:`lr` before and :meth:`after_step` after every optimiser step; stop when :meth:`done`."""

    MEASURE_FROM, MEASURE_AT, REPLAN_EVERY = 5, 25, 25  # re-plan every 25 steps from step 25 on

    def __init__(self, steps: int, lr: float, warmup: int = 0, seconds: Optional[float] = None,
                 device: Optional[torch.device] = None):
        self.steps, self.peak, self.warmup = max(1, int(steps)), float(lr), int(warmup)
        self.max_steps = self.steps
        self.seconds, self.device = seconds, device
        self.t0 = time.time()
        self._mark: Optional[float] = None

    def lr(self, step: int) -> float:
        if step < self.warmup:
            return self.peak * (step + 1) / self.warmup
        t = min(1.0, (step - self.warmup) / max(1, self.steps - self.warmup))
        return self.peak * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t)))

    def _now(self) -> float:
        if self.device is not None and self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.time()

    def after_step(self, step: int) -> None:
        """``step`` = index of the step just taken (0-based). With a budget, re-plans the step count from the
        mean time per step since step MEASURE_FROM (so periodic costs, e.g. refilling a data pool, count)."""
        if self.seconds is None:
            return
        taken = step + 1
        if taken == self.MEASURE_FROM:
            self._mark = self._now()
        elif self._mark is not None and taken >= self.MEASURE_AT and taken % self.REPLAN_EVERY == 0:
            now = self._now()
            per_step = (now - self._mark) / (taken - self.MEASURE_FROM)
            left = self.seconds - (now - self.t0)
            self.steps = max(taken + 1, min(self.max_steps, taken + int(left / max(per_step, 1e-6))))

    def done(self, step: int) -> bool:
        """True once ``step`` steps have been taken (or, past the plan, the budget is spent)."""
        return step >= self.steps or (self.seconds is not None and step > self.MEASURE_AT
                                      and time.time() - self.t0 > 1.15 * self.seconds)

    @property
    def elapsed(self) -> float:
        return time.time() - self.t0
