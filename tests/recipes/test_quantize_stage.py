"""quantize → bench in the pipeline: exported and INT8 artifacts measured through ONNX Runtime."""

from __future__ import annotations

import json

import pytest

from recipes.commands.export import choose_artifact


@pytest.fixture(scope="module")
def run(quantized_run):
    return quantized_run


def test_quantize_writes_fp32_and_one_artifact_per_preset_with_accuracy_through_ort(run):
    report = json.loads((run / "quantize" / "report.json").read_text())
    static = ["student-static-int8", "student-qdq-int8-tensorrt", "student-qdq-fp8-tensorrt", "student-qat-int8"]
    ours = ["student-fp32", "student-dynamic-int8", "student-dynamic-int8-per-channel", *static]
    assert list(report) == [*ours, "teacher-fp32", "teacher-dynamic-int8"]
    assert report["student-fp32"]["precision"] == "fp32" and report["student-dynamic-int8"]["precision"] == "int8"
    assert report["student-qdq-fp8-tensorrt"]["precision"] == "fp8"
    assert all(v == 0 for v in report["student-fp32"]["drop_vs_fp32"].values())
    presets = ["student-dynamic-int8", "student-dynamic-int8-per-channel", *static[:3]]  # not QAT: no fallback
    for name in presets:  # accuracy-aware FP32 fallback: within 1%
        assert report[name]["within_tolerance"] and max(report[name]["drop_vs_fp32"].values()) <= 0.01, name
    fp32 = json.loads((run / "quantize" / "student-fp32" / "metrics.json").read_text())
    torch_metrics = json.loads((run / "distill" / "metrics.json").read_text())
    for task, m in fp32.items():  # the exported graph scores like the PyTorch student
        assert m["value"] == pytest.approx(torch_metrics[task]["value"], abs=0.01), task
    manifest = json.loads((run / "quantize" / "student-fp32" / "onnx.json").read_text())
    assert manifest["fusions"] and max(r["max_abs_diff"] for r in manifest["parity_after_fusion"].values()) < 1e-4


def test_the_teacher_is_exported_and_quantized_beside_the_student_and_never_the_default(run):
    report = json.loads((run / "quantize" / "report.json").read_text())
    from recipes.loader import load_recipe
    from recipes.stages.quantize import QuantizeStage

    assert "teacher" in QuantizeStage().needs_for(load_recipe(str(run / "recipe.yaml")))  # a new teacher re-runs it
    teacher = json.loads((run / "teacher" / "metrics.json").read_text())
    for name in ("teacher-fp32", "teacher-dynamic-int8"):
        assert report[name]["teacher_alternative"] and set(report[name]["tasks"]) == set(teacher)
    for task, value in report["teacher-fp32"]["tasks"].items():  # the exported teacher scores like the torch one
        assert value == pytest.approx(teacher[task]["value"], abs=0.01), task
    assert max(report["teacher-dynamic-int8"]["drop_vs_fp32"].values()) <= 0.01  # measured against its own FP32
    assert choose_artifact(run, None).name.startswith("student-")


def test_a_standardised_head_keeps_its_scale_from_teacher_to_every_artifact(run):
    teacher = {t["name"]: t for t in json.loads((run / "teacher" / "model" / "mtkd.json").read_text())["tasks"]}
    mean, std = teacher["score"]["target_scale"]
    assert 0.5 < mean < 2.5 and 0.3 < std < 1.5  # the built-in 0-3 score's own statistics
    student = {t["name"]: t for t in json.loads((run / "distill" / "model" / "mtkd.json").read_text())["tasks"]}
    assert student["score"]["target_scale"] == [mean, std] and "target_scale" not in student["category"]
    report = json.loads((run / "quantize" / "report.json").read_text())
    for name in report:
        outputs = json.loads((run / "quantize" / name / "onnx.json").read_text())["outputs"]
        assert outputs["score"]["target_scale"] == [mean, std], name


def test_bench_measures_onnx_artifacts_at_their_own_precision_only(run):
    rows = [json.loads(line) for line in (run / "bench" / "results.jsonl").read_text().splitlines()]
    seen = {(r["artifact"], r["runtime"], r["precision"]) for r in rows}
    assert seen == {
        ("teacher", "torch", "fp32"),
        ("student", "torch", "fp32"),
        ("student-fp32", "onnxruntime", "fp32"),
        ("student-dynamic-int8", "onnxruntime", "int8"),
        ("student-dynamic-int8-per-channel", "onnxruntime", "int8"),
        ("student-static-int8", "onnxruntime", "int8"),
        ("student-qdq-int8-tensorrt", "onnxruntime", "int8"),
        ("student-qat-int8", "onnxruntime", "int8"),
        ("teacher-fp32", "onnxruntime", "fp32"),
        ("teacher-dynamic-int8", "onnxruntime", "int8"),
    }  # FP8 is simulated by ONNX Runtime: its accuracy is in the quantize report, its speed needs TensorRT
    int8 = next(r for r in rows if r["artifact"] == "student-dynamic-int8")
    assert set(int8["tasks"]) == {"category", "score", "attributes"} and int8["size_mb"] > 0


def test_metrics_prints_the_quantize_report_per_artifact(run, capsys):
    from recipes.cli import main

    assert main(["metrics", str(run), "--stage", "quantize"]) == 0
    table = capsys.readouterr().out
    report = json.loads((run / "quantize" / "report.json").read_text())
    for name, row in report.items():
        line = next(x for x in table.splitlines() if x.startswith(f"| {name} |"))
        assert f"{100 * max(row['drop_vs_fp32'].values()):.2f}%" in line and row["precision"] in line
