"""The front of one teacher's students: the fastest INT8 form within tolerance, its speedup against the teacher of
the same bench run, each retention with its interval, and the fastest student keeping what a user asks."""

from __future__ import annotations

import json

import pytest

from benchmarks.front import fastest_keeping, front_plot, front_table, int8_forms, peer_line, student_row
from distill.errors import MtkdError
from tests.conftest import bench_row


def _row(artifact, runtime, precision, batch, ms, rmse, threads=2):
    return bench_row(artifact, runtime, precision, ms, {"relevance": ("rmse", rmse, False)}, batch, threads=threads)


def _run(tmp_path, name, retention=0.7):
    run = tmp_path / name
    (run / "distill").mkdir(parents=True)
    task = {
        "metric": "rmse",
        "student": 0.43,
        "teacher": 0.40,
        "baseline": 0.5,
        "higher_is_better": False,
        "retention": retention,
        "retention_ci": [retention - 0.1, retention + 0.1],
        "intervals": {
            "spearman": {"retention": 0.95, "retention_ci": [0.9, 1.0]},
            "ndcg@10": {"retention": 0.98, "retention_ci": [0.96, 0.99]},
        },
    }
    report = {"tasks": {"relevance": task}, "encoder_params": [2e6, 22e6], "transfer": {"relevance": {"inputs": 5000}}}
    (run / "distill" / "report.json").write_text(json.dumps(report))
    return run


SHARED = [
    _row("teacher", "torch", "fp32", 1, 20.0, 0.40),
    _row("teacher", "torch-1t", "fp32", 1, 30.0, 0.40, threads=1),
    _row("teacher-optimum-dynamic-int8", "onnxruntime", "int8", 1, 8.0, 0.41),
    _row("s256:student-dynamic-int8", "onnxruntime", "int8", 1, 1.0, 0.46),  # fastest, but 20% of the gain lost
    _row("s256:student-static-int8", "onnxruntime", "int8", 1, 2.0, 0.4305),  # within 1% of the FP32 student's gain
    _row("s128:student-dynamic-int8", "onnxruntime", "int8", 1, 0.5, 0.4302),
    _row("teacher", "torch", "fp32", 32, 400.0, 0.40),
    _row("s256:student-static-int8", "onnxruntime", "int8", 32, 50.0, 0.4305),
]


def test_the_fastest_int8_form_within_tolerance_against_the_same_bench_s_teacher(tmp_path):
    row = student_row(_run(tmp_path, "s256"), 0.01, SHARED)
    assert row["b1"]["label"] == "student-static-int8 / onnxruntime"  # the faster one drops too much of the gain
    assert row["b1"]["speedup"] == 10.0  # the teacher at its best thread count: 20 ms
    assert row["b1"]["kept"]["relevance"] == pytest.approx((0.5 - 0.4305) / (0.5 - 0.40))
    assert row["b32"]["speedup"] == 8.0
    assert "b1" not in student_row(_run(tmp_path, "unbenched"), 0.01, SHARED)


def test_the_table_plot_and_peer_say_what_each_student_keeps_and_how_fast(tmp_path):
    students = [student_row(_run(tmp_path, "s256"), 0.01, SHARED), student_row(_run(tmp_path, "s128"), 0.01, SHARED)]
    text = front_table(students, "relevance")
    assert "70.0% [60.0, 80.0]" in text and "95.0% [90.0, 100.0]" in text and "98.0% [96.0, 99.0]" in text
    assert "10.00× (69.5%)" in text and "40.00×" in text and "| s128 | 2.00M | 5,000 |" in text
    assert "teacher-optimum-dynamic-int8: batch 1: 2.50× (90.0% of relevance)" in peer_line(SHARED, "relevance")
    path = front_plot(students, "relevance", tmp_path / "front.png", keep=0.9)
    assert path.stat().st_size > 10_000  # a real figure, not an empty canvas


def test_the_fastest_student_that_keeps_what_is_asked_or_none(tmp_path):
    weak = student_row(_run(tmp_path, "s128", retention=0.5), 0.01, SHARED)  # fastest, keeps half the gain
    strong = student_row(_run(tmp_path, "s256", retention=0.72), 0.01, SHARED)
    assert fastest_keeping([weak, strong], {"relevance": 0.6})["run"] == strong["run"]
    assert fastest_keeping([weak, strong], {"relevance": 0.4})["run"] == weak["run"]
    assert fastest_keeping([weak, strong], {"relevance": 0.8}) is None  # its INT8 form keeps 69.5%: not enough


def test_a_run_without_int8_forms_is_named(tmp_path):
    run = tmp_path / "s128"
    (run / "quantize").mkdir(parents=True)
    with pytest.raises(MtkdError, match="no INT8 artifact"):
        int8_forms(run)
