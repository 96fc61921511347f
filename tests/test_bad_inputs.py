"""Every row of docs/bad_inputs.md: a one-line DistortxError (API) or exit status 2 with one line (CLI), holding
the expected fragment. The cases live in tests/bad_inputs.py, which also writes the doc."""
from __future__ import annotations

import pytest

from bad_inputs import cases, try_case

CASES = cases()


def test_the_table_has_at_least_60_cases():
    assert len(CASES) >= 60


@pytest.mark.parametrize("case", CASES, ids=[f"{c.surface}: {c.what}" for c in CASES])
def test_bad_input_gets_a_one_line_error(case, tmp_path):
    outcome, message = try_case(case, tmp_path)
    assert outcome == "error", (outcome, message)
    assert "\n" not in message and case.expect.lower() in message.lower(), message
