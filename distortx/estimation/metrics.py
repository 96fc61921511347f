"""Endo et al.'s interval mean accuracy (their Eq. 1)::

    Acc(Ql, Qu) = sum_{i=Ql}^{Qu} Acc(D(X, q=i), Y) / (Qu - Ql + 1)

the mean, over every integer parameter value of the interval, of the accuracy on the test set degraded
with that value."""
from __future__ import annotations

from typing import Dict, Iterable, List, Mapping, Sequence, Tuple

from ..errors import ParameterError


def interval_mean_accuracy(accuracy: Mapping[int, float], low: int, high: int) -> float:
    """Mean of ``accuracy[i]`` for i = low..high (inclusive); every i must have been evaluated.

    The {value: accuracy} form of :func:`distortx.engine.evaluation.metrics.interval_mean_accuracy` (one definition of
    Eq. 1), with this module's one-line :class:`ParameterError` messages."""
    import numpy as np

    from ..engine.evaluation.metrics import ParameterCurve
    from ..engine.evaluation.metrics import interval_mean_accuracy as _eq1

    if low > high:
        raise ParameterError(f"interval [{low}, {high}] is empty: low must be <= high")
    missing = [i for i in range(int(low), int(high) + 1) if i not in accuracy]
    if missing:
        raise ParameterError(f"no accuracy for parameter value(s) {missing[:5]}{'...' if len(missing) > 5 else ''} "
                             f"of interval [{low}, {high}]: evaluate every integer value in it")
    keys = sorted(int(k) for k in accuracy)
    curve = ParameterCurve(values=np.array(keys, dtype=np.float64),
                           accuracy=np.array([float(accuracy[k]) for k in keys]), count=np.ones(len(keys), np.int64))
    return _eq1(curve, int(low), int(high), step=1.0)


def interval_table(accuracy: Mapping[int, float], intervals: Iterable[Tuple[int, int]]) -> Dict[Tuple[int, int], float]:
    """{(low, high): interval mean accuracy} for each interval."""
    return {(int(a), int(b)): interval_mean_accuracy(accuracy, a, b) for a, b in intervals}


#: the intervals of Endo's Tables 3 (JPEG quality) and 6 (noise sigma)
JPEG_INTERVALS: List[Tuple[int, int]] = [(1, 20), (21, 40), (41, 60), (61, 80), (81, 100)]
NOISE_INTERVALS: List[Tuple[int, int]] = [(0, 10), (11, 20), (21, 30), (31, 40), (41, 50)]


def accuracy_by_value(values: Sequence[int], correct: Sequence[float]) -> Dict[int, float]:
    """{value: mean of correct} from per-sample integer parameter values and 0/1 correctness."""
    sums: Dict[int, List[float]] = {}
    for v, c in zip(values, correct):
        sums.setdefault(int(v), []).append(float(c))
    return {k: sum(v) / len(v) for k, v in sorted(sums.items())}
