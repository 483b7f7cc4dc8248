"""Small CLI commands end to end: ``mtkd doctor`` and ``mtkd evaluate``."""

from __future__ import annotations

import json

from recipes.cli import main


def test_doctor_prints_a_table_and_json(capsys):
    assert main(["doctor"]) == 0
    table = capsys.readouterr().out
    assert "| ONNX Runtime" in table and "CPUExecutionProvider | ok |" in table and "| CPU ISA |" in table
    assert main(["doctor", "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["onnxruntime"]["providers"]["CPUExecutionProvider"] == "ok"
    assert facts["cpu"]["cores"] >= 1 and isinstance(facts["torch"]["cuda"], bool)


def test_evaluate_command_rescores_a_stage_beside_its_recorded_metrics(quantized_run, capsys):
    from recipes.cli import main

    assert main(["evaluate", str(quantized_run), "--stage", "distill", "--task", "attributes"]) == 0
    table = capsys.readouterr().out
    row = next(line for line in table.splitlines() if line.startswith("| attributes | entity_f1 |"))
    recorded, now = (float(x) for x in row.split("|")[3:5])
    assert 0 < now <= 1
    assert now == recorded  # this run's stage already decoded with this code: the re-score reproduces it
    assert main(["evaluate", str(quantized_run), "--stage", "quantize"]) == 2  # no model there
