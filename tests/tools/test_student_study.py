"""The students' side-by-side table: the fastest INT8 form within tolerance, its speedup against the same run's
teacher, and each retention with its interval."""

from __future__ import annotations

import json

import pytest

from tests.conftest import bench_row
from tools.student_study import main, student_row


def _row(artifact, runtime, precision, batch, ms, rmse, threads=2):
    return bench_row(artifact, runtime, precision, ms, {"relevance": ("rmse", rmse, False)}, batch, threads=threads)


def _run(tmp_path, name):
    run = tmp_path / name
    (run / "distill").mkdir(parents=True)
    (run / "bench").mkdir()
    task = {
        "metric": "rmse",
        "student": 0.43,
        "teacher": 0.40,
        "baseline": 0.5,
        "higher_is_better": False,
        "retention": 0.7,
        "retention_ci": [0.6, 0.8],
        "intervals": {"spearman": {"retention": 0.95, "retention_ci": [0.9, 1.0]}},
    }
    report = {"tasks": {"relevance": task}, "encoder_params": [100, 400], "transfer": {"relevance": {"inputs": 5000}}}
    (run / "distill" / "report.json").write_text(json.dumps(report))
    rows = [
        _row("teacher", "torch", "fp32", 1, 20.0, 0.40),
        _row("teacher", "torch-1t", "fp32", 1, 30.0, 0.40, threads=1),
        _row("student", "torch", "fp32", 1, 6.0, 0.43),
        _row("student-dynamic-int8", "onnxruntime", "int8", 1, 1.0, 0.46),  # fastest, but 20% of the gain lost
        _row("student-static-int8", "onnxruntime", "int8", 1, 2.0, 0.4305),  # within 1% of the FP32 student's gain
        _row("teacher", "torch", "fp32", 32, 400.0, 0.40),
        _row("student", "torch", "fp32", 32, 90.0, 0.43),
        _row("student-static-int8", "onnxruntime", "int8", 32, 50.0, 0.4305),
    ]
    (run / "bench" / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run


def test_the_fastest_int8_student_within_tolerance_against_the_same_run_s_teacher(tmp_path, capsys):
    run = _run(tmp_path, "s256")
    row = student_row(run, "relevance", 0.01)
    assert row["b1"]["label"] == "student-static-int8 / onnxruntime"  # the faster one drops too much of the gain
    assert row["b1"]["speedup"] == 10.0  # the teacher at its best thread count: 20 ms
    assert row["b1"]["kept"]["relevance"] == (0.5 - 0.4305) / (0.5 - 0.40)
    assert row["b32"]["speedup"] == 8.0
    main([str(run), "--plot", str(tmp_path / "front.png")])
    printed = capsys.readouterr().out
    assert "70.0% [60.0, 80.0]" in printed and "95.0% [90.0, 100.0]" in printed and "10.00× (69.5%)" in printed
    assert (tmp_path / "front.png").stat().st_size > 10_000  # a real figure, not an empty canvas


def test_one_shared_bench_gives_every_student_its_speed_against_the_same_teacher_rows(tmp_path, capsys):
    run = _run(tmp_path, "s256")
    shared = [
        _row("teacher", "torch", "fp32", 1, 24.0, 0.40),
        _row("teacher-optimum-dynamic-int8", "onnxruntime", "int8", 1, 8.0, 0.41),
        _row("s256:pruned-dynamic-int8", "onnxruntime", "int8", 1, 1.0, 0.46),  # 20% of the gain lost: out
        _row("s256:pruned-static-int8", "onnxruntime", "int8", 1, 2.0, 0.4305),
        _row("other:pruned-static-int8", "onnxruntime", "int8", 1, 0.5, 0.45),  # another run's student
    ]
    (tmp_path / "shared.jsonl").write_text("".join(json.dumps(r) + "\n" for r in shared))
    main([str(run), "--bench", str(tmp_path / "shared.jsonl")])
    printed = capsys.readouterr().out
    # 24 ms / 2 ms from the shared rows (the run's own bench says 10×); the tolerance is checked against the
    # distilled student's FP32 metric (0.43) when the shared bench has no FP32 student row
    assert "12.00× (69.5%)" in printed
    assert "teacher-optimum-dynamic-int8: batch 1: 3.00× (90.0% of relevance)" in printed


def test_the_shared_bench_takes_every_int8_form_of_a_run_and_the_teachers_forms(tmp_path):
    from distill.errors import MtkdError
    from tools.study_bench import int8_forms

    run = tmp_path / "s128"
    (run / "quantize").mkdir(parents=True)
    with pytest.raises(MtkdError, match="no INT8 artifact"):
        int8_forms(run)
