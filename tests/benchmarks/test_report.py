"""The bench report: the fastest student within tolerance per shape, shares of each precision's peak, and
Pareto plots that name the front only."""

from __future__ import annotations

from benchmarks.report import add_peak_share, fastest_within, pareto_plots
from tests.conftest import bench_row


def row(artifact, runtime, precision, batch, p50, accuracy, flops=1e9):
    tasks = {"cat": ("accuracy", accuracy, True, 0.1), "score": ("rmse", 0.5, False, 1.0)}
    return bench_row(artifact, runtime, precision, p50, tasks, batch, achieved_flops=flops, size_mb=1.0)


ROWS = [
    row("teacher", "torch", "fp32", 1, 20.0, 0.95),
    row("teacher-optimum-dynamic-int8", "onnxruntime", "int8", 1, 1.0, 0.94),  # a teacher: never the answer
    row("student", "torch", "fp32", 1, 8.0, 0.90),
    row("student-dynamic-int8", "onnxruntime", "int8", 1, 2.0, 0.85),  # fastest student, but 5.6% worse
    row("student-fp32", "openvino", "bf16", 1, 3.0, 0.895),  # within 1%
    row("student", "torch", "fp32", 32, 80.0, 0.90),
    row("student-fp32", "openvino", "bf16", 32, 30.0, 0.80),
    row("student-static-int8", "openvino", "int8", 32, 40.0, 0.90),
]


def test_the_fastest_student_within_tolerance_is_named_per_batch_size_with_its_peak_share():
    rows = [dict(r) for r in ROWS]
    add_peak_share(rows, {"fp32_flops": 10e9, "int8_ops": 20e9, "bf16_flops": 40e9})
    lines = fastest_within(rows, 0.01)
    b1 = next(line for line in lines if line.startswith("| 1 |"))
    b32 = next(line for line in lines if line.startswith("| 32 |"))
    assert "student-fp32/openvino/bf16" in b1 and "| 2.67× |" in b1 and "| 0.56% |" in b1 and "2.5%" in b1
    assert "student-static-int8/openvino/int8" in b32 and "| 2.00× |" in b32 and "5.0%" in b32  # int8 peak
    assert fastest_within(rows, 0.10)[4].count("student-dynamic-int8") == 1  # a looser tolerance admits it


def test_pareto_plots_number_the_front_and_legend_every_group(tmp_path, monkeypatch):
    import matplotlib.axes

    legends: list[list[str]] = []  # one per plot
    real = matplotlib.axes.Axes.legend

    def legend(self, *args, **kwargs):
        legends.append(self.get_legend_handles_labels()[1])
        return real(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "legend", legend)
    paths = pareto_plots([dict(r) for r in ROWS], (1, 128), tmp_path)
    assert [p.name for p in paths] == ["pareto-cat.png", "pareto-score.png"]
    cat = legends[0]
    assert {"torch fp32", "onnxruntime int8", "openvino bf16"} <= set(cat)
    numbered = [label for label in cat if label[0].isdigit()]
    # front of cat: the teacher's int8 export (fastest), then the teacher in FP32 (most accurate)
    assert numbered == ["1: teacher-optimum-dynamic-int8/onnxruntime/int8", "2: teacher/torch/fp32"]


def test_the_student_is_set_against_the_sum_of_the_teachers_it_replaces():
    from benchmarks.brought import replaces_section

    one_task = {"cat": ROWS[0]["tasks"]["cat"]}
    rows = [
        {**row("teacher.cat", "torch", "fp32", 1, 12.0, 0.95), "tasks": one_task},
        {**row("teacher.score", "torch", "int8", 1, 5.0, 0.95)},  # not FP32: not the comparison
        {**row("teacher.score", "torch", "fp32", 1, 9.0, 0.95)},
        *[r for r in ROWS if r["artifact"].startswith("student") and r["batch_size"] == 1],
    ]
    lines = replaces_section(rows, tolerance=0.01)
    table = [line for line in lines if line.startswith("| 1 |")]
    # 12 + 9 = 21 ms of teachers; the FP32 student 8 ms; the fastest within 1% is OpenVINO bf16 (3 ms), not the
    # 2 ms INT8 graph that is 5.6% worse
    assert table == ["| 1 | 128 | 12.00 | 9.00 | 21.00 | 8.00 | 2.62× | student-fp32/openvino/bf16 | 3.00 | 7.00× |"]
    assert replaces_section(ROWS, tolerance=0.01) == []  # no brought teachers: no section


def test_a_share_is_of_its_own_runtimes_peak_where_measured_and_torchs_elsewhere():
    rows = [dict(r) for r in ROWS if r["batch_size"] == 32]
    by_runtime = {"openvino": {"bf16": 50e9}}  # OpenVINO's int8 peak not measured: torch's int8 stands in
    add_peak_share(rows, {"fp32_flops": 10e9, "int8_ops": 20e9, "bf16_flops": 40e9, "by_runtime": by_runtime})
    shares = {(r["runtime"], r["precision"]): r["peak_share"] for r in rows}
    assert shares == {("torch", "fp32"): 0.1, ("openvino", "bf16"): 0.02, ("openvino", "int8"): 0.05}


def test_every_runtime_precision_group_gets_its_own_marker_and_colour_and_teachers_are_told_apart():
    from benchmarks.report import is_teacher, marker_styles

    styles = marker_styles(30)
    assert len(set(styles)) == 30  # 'onnxruntime-1t fp32' and 'torch-1t bf16' (groups 0 and 10) were both blue circles
    assert styles[0] != styles[10] and styles[0][0] == styles[10][0]  # same marker, so another colour
    assert is_teacher({"artifact": "teacher"}) and is_teacher({"artifact": "teacher-optimum-dynamic-int8"})
    assert is_teacher({"artifact": "teacher.intent"}) and not is_teacher({"artifact": "pruned-static-int8"})
