"""The runtime a bundle is served by: the bench's fastest for the artifact at batch 1 within tolerance."""

from __future__ import annotations

import json

from compress.bundle.selection import choose_runtime
from distill.io import write_json


def bench_row(runtime, precision, p50, accuracy, batch=1, seq=128, device="cpu"):
    task = {"metric": "accuracy", "value": accuracy, "baseline": 0.1, "higher_is_better": True}
    return {
        "artifact": "student-fp32",
        "runtime": runtime,
        "precision": precision,
        "device": device,
        "batch_size": batch,
        "seq_len": seq,
        "latency_ms": {"p50": p50},
        "tasks": {"cat": task},
    }


def write_run(root, rows):
    write_json(root / "quantize" / "report.json", {"student-fp32": {"precision": "fp32", "tasks": {"cat": 0.90}}})
    (root / "bench").mkdir(parents=True)
    (root / "bench" / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_the_fastest_runtime_within_tolerance_serves_the_bundle(tmp_path):
    (tmp_path / "quantize").mkdir()
    write_run(
        tmp_path,
        [
            bench_row("onnxruntime-2t", "fp32", 10.0, 0.90),
            bench_row("onnxruntime-1t", "fp32", 4.0, 0.86),  # fastest, but 4.4% worse than the artifact
            bench_row("openvino-1t", "bf16", 6.0, 0.895),  # within 1%: served by this
            bench_row("openvino-2t", "fp32", 1.0, 0.90, seq=32),  # a shorter sequence does not count
            bench_row("onnxruntime-trt", "fp32", 0.5, 0.90, device="cuda"),  # nor a GPU row
            bench_row("onnxruntime-2t", "fp32", 3.0, 0.90, batch=8),  # nor batch 8
        ],
    )
    assert choose_runtime(tmp_path, "student-fp32", 0.01) == ("openvino", "bf16")
    assert choose_runtime(tmp_path, "student-fp32", 0.05) == ("onnxruntime", "fp32")
    assert choose_runtime(tmp_path, "student-other", 0.01) is None  # not benched: the model file decides


def test_where_the_bench_timed_real_text_the_real_lengths_decide(tmp_path):
    (tmp_path / "quantize").mkdir()
    rows = [bench_row("onnxruntime", "fp32", 2.0, 0.90), bench_row("openvino", "bf16", 1.5, 0.90)]
    write_run(tmp_path, rows)
    assert choose_runtime(tmp_path, "student-fp32", 0.01) == ("openvino", "bf16")  # fastest at 128 tokens
    real = [  # but 5x slower on the test split's 13-token texts, as OpenVINO is on this Xeon
        {"artifact": "student-fp32", "runtime": "onnxruntime", "precision": "fp32", "batch_size": 1, "pass_ms": 65.0},
        {"artifact": "student-fp32", "runtime": "openvino", "precision": "bf16", "batch_size": 1, "pass_ms": 340.0},
        {"artifact": "student-fp32", "runtime": "openvino", "precision": "bf16", "batch_size": 8, "pass_ms": 30.0},
    ]
    (tmp_path / "bench" / "real-length.jsonl").write_text("".join(json.dumps(r) + "\n" for r in real))
    assert choose_runtime(tmp_path, "student-fp32", 0.01) == ("onnxruntime", "fp32")
