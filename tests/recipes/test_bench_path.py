"""A tiny teacher and student through the whole bench path: stage, report, plots, history, compare."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from recipes.cli import main
from tests.conftest import TINY_TRAIN, tiny_recipe, write_recipe

BENCH = {
    "batch_sizes": [1, 2],
    "seq_lens": [8, 16],
    "warmup": 1,
    "iters": 2,
    "rounds": 2,
    "runtimes": ["torch"],
    "precisions": ["fp32", "fp16"],
}
STUDENT = {
    "model": {"layers": 1, "hidden": 16, "heads": 2, "intermediate": 32, "max_position": 64},
    "distill": {"logits": {}},
    "train": {**TINY_TRAIN, "epochs": 1},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    path = write_recipe(root / "tiny.yaml", tiny_recipe(student=STUDENT, bench=BENCH))
    assert main(["run", str(path), "--out", str(root / "runs" / "tiny")]) == 0
    return root, root / "runs" / "tiny"


def rows_of(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_results_have_one_row_per_artifact_runtime_precision_and_shape(run):
    _, out = run
    rows = rows_of(out / "bench" / "results.jsonl")
    assert {(r["artifact"], r["batch_size"], r["seq_len"]) for r in rows} == {
        (a, b, s) for a in ("teacher", "student") for b in (1, 2) for s in (8, 16)
    }
    for r in rows:
        assert r["runtime"] == "torch" and r["precision"] == "fp32" and r["device"] == "cpu"
        assert 0 < r["latency_ms"]["p50"] <= r["latency_ms"]["p99"]
        assert r["throughput"] == pytest.approx(r["batch_size"] / r["latency_ms"]["p50"] * 1e3)
        assert r["size_mb"] > 0 and r["params"] > 0 and r["flops_per_sample"] > 0
        assert set(r["tasks"]) == {"category", "score", "attributes"}
        assert r["env"]["cores"] >= 1 and "torch" in r["env"]["libraries"]
        assert 0 < r["peak_share"] < 1
    teacher = next(r for r in rows if r["artifact"] == "teacher")
    metrics = json.loads((out / "teacher" / "metrics.json").read_text())
    # accuracy measured through the runtime agrees with the training stage's own evaluation
    for task, m in teacher["tasks"].items():
        assert m["value"] == pytest.approx(metrics[task]["value"], abs=1e-6)


def test_report_tables_skips_and_pareto_pngs(run):
    _, out = run
    report = (out / "bench" / "report.md").read_text()
    assert "## category (batch 1, sequence 16)" in report
    assert "| teacher | torch | fp32 |" in report and "| student | torch | fp32 |" in report
    assert "100.0% |" in report  # the teacher is its own reference
    assert "fp16 autocast is measured on CUDA only" in report  # unavailable here, said so
    for task in ("category", "score", "attributes"):
        with Image.open(out / "bench" / f"pareto-{task}.png") as img:
            assert img.format == "PNG" and img.size[0] > 300


def test_bench_command_records_history_and_compare_flags_nothing_on_identical_runs(run, capsys, monkeypatch):
    root, out = run
    monkeypatch.chdir(root)
    assert main(["bench", str(out), "--out", str(root / "again")]) == 0
    assert main(["report", "--history"]) == 0
    listed = capsys.readouterr().out
    assert listed.count("rows") == 2  # the stage's run and this one
    assert main(["report", "--compare", str(out / "bench"), str(out / "bench")]) == 0
    table = capsys.readouterr().out
    assert "| teacher/torch/fp32 | 1 | 8 |" in table and "+0.0%" in table and "no regressions" in table


def test_compare_flags_a_slower_and_worse_run(tmp_path, capsys, run):
    _, out = run
    rows = rows_of(out / "bench" / "results.jsonl")
    worse = json.loads(json.dumps(rows))
    for r in worse:
        r["latency_ms"]["p50"] *= 1.5
        r["tasks"]["category"]["value"] *= 0.9
    (tmp_path / "worse.jsonl").write_text("".join(json.dumps(r) + "\n" for r in worse))
    assert main(["report", "--compare", str(out / "bench" / "results.jsonl"), str(tmp_path / "worse.jsonl")]) == 0
    table = capsys.readouterr().out
    assert "REGRESSION: slower, category worse" in table and f"{len(rows)} regression(s)" in table


def test_thread_sweep_measures_each_candidate_at_each_count_and_restores_torchs(run, tmp_path):
    import torch

    from recipes.cli import main as cli

    _, out = run
    before = torch.get_num_threads()
    sweep = ["--set", "bench.threads=[1,2]", "--set", "bench.batch_sizes=[1]", "--set", "bench.seq_lens=[8]"]
    assert cli(["bench", str(out), *sweep, "--out", str(tmp_path / "sweep")]) == 0
    rows = rows_of(tmp_path / "sweep" / "results.jsonl")
    assert sorted((r["artifact"], r["runtime"], r["threads"]) for r in rows) == [
        ("student", "torch-1t", 1),
        ("student", "torch-2t", 2),
        ("teacher", "torch-1t", 1),
        ("teacher", "torch-2t", 2),
    ]
    report = (tmp_path / "sweep" / "report.md").read_text()
    fastest = min((r for r in rows if r["artifact"] == "teacher"), key=lambda r: r["latency_ms"]["p50"])
    line = next(x for x in report.splitlines() if x.startswith(f"| teacher | {fastest['runtime']} |"))
    assert "| 1.00× |" in line  # speedups are relative to the teacher at its fastest thread count
    assert torch.get_num_threads() == before


def test_the_report_shows_each_speedup_against_the_teachers_own_int8_export_too():
    from benchmarks.report import Measured, markdown

    def row(artifact, runtime, precision, ms, value):
        task = {"metric": "rmse", "value": value, "baseline": 0.6, "higher_is_better": False}
        return {
            "artifact": artifact, "runtime": runtime, "precision": precision, "batch_size": 1, "seq_len": 128,
            "latency_ms": {"p50": ms, "p99": ms}, "size_mb": 1.0, "throughput": 1e3 / ms, "tasks": {"score": task},
            "env": {},
        }  # fmt: skip

    rows = [
        row("teacher", "torch-2t", "fp32", 30.0, 0.47),
        row("teacher", "torch-1t", "fp32", 40.0, 0.47),
        row("teacher-optimum-dynamic-int8", "onnxruntime-2t", "int8", 12.0, 0.47),
        row("student-dynamic-int8", "onnxruntime-1t", "int8", 1.5, 0.48),
    ]
    text = markdown(Measured(rows, [], (1, 128)))
    assert "| speedup | vs teacher-optimum-dynamic-int8 | size MB |" in text
    line = next(x for x in text.splitlines() if x.startswith("| student-dynamic-int8 |"))
    assert "| 20.00× | 8.00× |" in line  # 30 ms / 1.5 ms against torch FP32 at its best threads; 12 / 1.5


def test_engine_time_is_reported_only_by_runtimes_that_measure_it_apart():
    from benchmarks.harness import engine_timing

    class Engine:
        def engine_ms(self, batch, iters):
            return 0.25 * iters

    assert engine_timing(Engine(), {}, 4) == {"engine_ms": 1.0}
    assert engine_timing(object(), {}, 4) == {}  # torch and ONNX Runtime: end to end only


def test_real_length_latency_pads_each_batch_to_its_longest_and_counts_real_tokens(run):
    from transformers import AutoTokenizer

    from benchmarks.real_length import real_batches
    from distill.data.loading import load_tasks
    from recipes.loader import load_recipe

    _, out = run
    rows = rows_of(out / "bench" / "real-length.jsonl")
    assert {(r["artifact"], r["batch_size"]) for r in rows} == {(a, b) for a in ("teacher", "student") for b in (1, 2)}
    for r in rows:
        assert r["tokens_per_s"] == pytest.approx(r["mean_tokens"] * r["examples_per_s"])
        assert r["examples_per_s"] == pytest.approx(r["examples"] / r["pass_ms"] * 1e3)
    one = next(r for r in rows if r["batch_size"] == 1)
    assert one["padding"] == 0  # a batch of one is never padded
    assert "## Real-length latency" in (out / "bench" / "report.md").read_text()
    recipe = load_recipe(str(out / "recipe.yaml"))
    tasks = load_tasks(recipe.tasks, recipe.seed, recipe.data)
    tok = AutoTokenizer.from_pretrained(out / "distill" / "model")
    feeds = real_batches(tok, tasks, 2, 3, 32)
    assert len(feeds) == 2 * len(tasks)  # 3 examples per task in batches of 2: 2 batches each
    for feed in feeds:  # padded to the batch's longest: some row has no padding
        assert feed["attention_mask"].sum(1).max() == feed["input_ids"].shape[1]
