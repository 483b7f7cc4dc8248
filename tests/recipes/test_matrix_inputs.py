"""The matrix's hostile-input rows against a finished tiny run: every row handled, and a row that would lose an
input is called not handled."""

from __future__ import annotations

from tools import matrix_inputs
from tools.matrix_inputs import hostile_inputs


def test_every_hostile_input_row_is_handled(quantized_run, tmp_path):
    outcomes = hostile_inputs(quantized_run, tmp_path)
    assert [o.name for o in outcomes] == [
        "predict: hostile stdin lines",
        "Predictor: values that are not text",
        "loadtest: hostile inputs",
    ]
    assert all(o.ok for o in outcomes), [o.detail for o in outcomes if not o.ok]


def test_a_line_expected_to_fail_that_is_answered_is_not_handled(quantized_run, tmp_path, monkeypatch):
    lines = [*matrix_inputs.STDIN_LINES[:1], (b"a fine line", False)]  # a wrong expectation: it is predicted
    monkeypatch.setattr(matrix_inputs, "STDIN_LINES", lines)
    bundle = matrix_inputs.export_bundle(quantized_run, tmp_path / "b")
    assert not matrix_inputs.predict_stdin(bundle).ok
