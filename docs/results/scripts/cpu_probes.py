"""Probes behind the CPU-runtime study (docs/results/2026-12-02-cpu-runtimes.md): what else was tried for the
student at batch 32 × 128, timed side by side in one process.

``python docs/results/scripts/cpu_probes.py RUN`` (a finished quickstart run) prints, each the median of 20 calls
after 3 warm-up calls, in three interleaved rounds: OpenVINO bf16 with dynamic and with static shapes, eager torch
under bf16 autocast, and ``torch.compile`` (inductor, freezing) under bf16 autocast; then OpenVINO and ONNX
Runtime per call at batch 1 on short text; then OpenVINO's per-node profile (where the time goes).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from benchmarks.peak import call_seconds


def median_ms(fn: Callable[[], object], calls: int = 20, warmup: int = 3) -> float:
    return 1000 * float(np.median(call_seconds(fn, warmup, calls)))


def feed(batch: int, seq: int) -> dict[str, np.ndarray]:
    ids = np.random.default_rng(0).integers(5, 1000, (batch, seq))
    return {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}


def openvino_request(graph: Path, precision: str, shape: tuple[int, int] | None, profile: bool = False):
    """A compiled model's infer request as the bench's OpenVINO backend makes it, optionally reshaped static."""
    import openvino as ov

    model = ov.Core().read_model(str(graph))
    names = [i.get_any_name() for i in model.inputs]
    if shape:
        model.reshape({n: list(shape) for n in names})
    config = {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 2}
    compiled = ov.Core().compile_model(model, "CPU", {**config, **({"PERF_COUNT": True} if profile else {})})
    return names, compiled.create_infer_request()


def batch32(run: Path) -> None:
    from distill.model import MultiTaskModel

    graph = run / "quantize" / "student-fp32" / "model.onnx"
    inputs = feed(32, 128)
    names, dynamic = openvino_request(graph, "bf16", None)
    _, static = openvino_request(graph, "bf16", (32, 128))
    ov_feed = {k: v for k, v in inputs.items() if k in names}
    model = MultiTaskModel.from_pretrained(run / "distill" / "model").eval()
    tensors = {k: torch.from_numpy(v) for k, v in inputs.items()}
    import torch._inductor.config as inductor

    inductor.freezing = True  # weights become constants: inductor prepacks them for oneDNN
    compiled = torch.compile(model, dynamic=False)

    def torch_bf16(m: torch.nn.Module) -> Callable[[], object]:
        def call() -> object:
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                return m(**tensors)

        return call

    for round_ in range(3):
        figures = {
            "openvino bf16 dynamic": median_ms(lambda: dynamic.infer(ov_feed)),
            "openvino bf16 static 32x128": median_ms(lambda: static.infer(ov_feed)),
            "torch eager bf16": median_ms(torch_bf16(model)),
            "torch.compile bf16 (freezing)": median_ms(torch_bf16(compiled)),
        }
        print(f"b32x128 round {round_ + 1}: " + ", ".join(f"{k} {v:.2f} ms" for k, v in figures.items()))


def short_text(run: Path) -> None:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(run / "quantize" / "student-dynamic-int8" / "model.onnx"), opts)
    for seq in (13, 32):
        inputs = feed(1, seq)
        calls = {
            "openvino bf16 dynamic": openvino_call(run, inputs, None),
            "static": openvino_call(run, inputs, (1, seq)),
            "onnxruntime dynamic int8": ort_call(session, inputs),
        }
        print(f"b1x{seq}: " + ", ".join(f"{k} {median_ms(call, 200):.3f} ms" for k, call in calls.items()))


def openvino_call(run: Path, inputs: dict[str, np.ndarray], shape: tuple[int, int] | None) -> Callable[[], object]:
    names, request = openvino_request(run / "quantize" / "student-fp32" / "model.onnx", "bf16", shape)
    ov_feed = {k: v for k, v in inputs.items() if k in names}
    return lambda: request.infer(ov_feed)


def ort_call(session, inputs: dict[str, np.ndarray]) -> Callable[[], object]:
    ort_feed = {k: v for k, v in inputs.items() if k in {i.name for i in session.get_inputs()}}
    return lambda: session.run(None, ort_feed)


def profile(run: Path) -> None:
    names, request = openvino_request(run / "quantize" / "student-fp32" / "model.onnx", "bf16", (32, 128), True)
    ov_feed = {k: v for k, v in feed(32, 128).items() if k in names}
    for _ in range(5):
        request.infer(ov_feed)
    totals: dict[tuple[str, str], float] = {}
    for _ in range(10):
        request.infer(ov_feed)
        for node in request.profiling_info:
            key = (node.node_type, node.exec_type)
            totals[key] = totals.get(key, 0.0) + node.real_time.total_seconds() * 100  # ms per call over 10
    whole = sum(totals.values())
    print(f"openvino bf16 static 32x128, per node type (sum {whole:.2f} ms a call):")
    for (kind, kernel), ms in sorted(totals.items(), key=lambda kv: -kv[1])[:8]:
        print(f"  {kind:<16} {kernel:<24} {ms:6.2f} ms {100 * ms / whole:4.0f}%")


def main(argv: list[str] | None = None) -> int:
    prog = "python docs/results/scripts/cpu_probes.py"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a finished quickstart run directory")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    batch32(args.run)
    short_text(args.run)
    profile(args.run)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
