"""Endo's interval mean accuracy (Eq. 1) on toy numbers."""
import pytest

from distortx.errors import ParameterError
from distortx.estimation import JPEG_INTERVALS, NOISE_INTERVALS, interval_mean_accuracy, interval_table
from distortx.estimation.metrics import accuracy_by_value


def test_interval_mean_is_the_plain_mean_over_every_value():
    acc = {q: q / 100 for q in range(1, 101)}
    assert interval_mean_accuracy(acc, 1, 20) == pytest.approx(sum(range(1, 21)) / 20 / 100)  # 0.105
    assert interval_mean_accuracy(acc, 81, 100) == pytest.approx(0.905)
    assert interval_mean_accuracy(acc, 7, 7) == pytest.approx(0.07)


def test_interval_table_covers_the_papers_intervals():
    acc = {q: 1.0 if q > 50 else 0.0 for q in range(1, 101)}
    table = interval_table(acc, JPEG_INTERVALS)
    assert table == {(1, 20): 0.0, (21, 40): 0.0, (41, 60): 0.5, (61, 80): 1.0, (81, 100): 1.0}
    assert NOISE_INTERVALS[0] == (0, 10) and NOISE_INTERVALS[-1] == (41, 50)


def test_missing_values_and_empty_intervals_raise():
    with pytest.raises(ParameterError, match="no accuracy for parameter value"):
        interval_mean_accuracy({1: 0.5, 3: 0.5}, 1, 3)
    with pytest.raises(ParameterError, match="empty"):
        interval_mean_accuracy({1: 0.5}, 3, 1)


def test_accuracy_by_value_groups_samples():
    assert accuracy_by_value([5, 5, 6, 5], [1, 0, 1, 1]) == {5: pytest.approx(2 / 3), 6: 1.0}
