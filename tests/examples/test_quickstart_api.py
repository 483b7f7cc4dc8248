"""The example script runs the quickstart through the Python API alone (its --tiny version, as CI runs it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import load_example

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "quickstart_api.py"


@pytest.mark.slow
def test_the_api_example_distils_quantizes_and_benchmarks_the_quickstart(tmp_path, capsys):
    example = load_example("quickstart_api")
    assert "recipes" not in EXAMPLE.read_text()  # the API alone: no recipe, no pipeline, no CLI
    summary = example.main(tmp_path, tiny=True)
    printed = capsys.readouterr().out
    assert "retention per task:" in printed and "student-dynamic-int8: int8" in printed
    rows = summary["results"]
    measured = {(r["artifact"], r["runtime"], r["precision"]) for r in rows}
    assert {("teacher", "torch", "fp32"), ("student", "torch", "fp32")} <= measured
    assert {("student-dynamic-int8", "onnxruntime", "int8"), ("student-static-int8", "onnxruntime", "int8")} <= measured
    tasks = {"category", "relevance", "sentiment", "attributes"}
    for row in rows:  # every artifact timed and scored on every task through the runtime that ran it
        assert row["latency_ms"]["p50"] > 0 and set(row["tasks"]) == tasks, row["artifact"]
    category = {r["artifact"]: r["tasks"]["category"]["value"] for r in rows if r["precision"] != "int8"}
    assert category["teacher"] > 2 * rows[0]["tasks"]["category"]["baseline"]  # it learned something
    assert (tmp_path / "student" / "model" / "model.safetensors").is_file()
