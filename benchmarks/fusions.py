"""ONNX Runtime's fused SkipLayerNormalization against the Add + LayerNormalization it replaces.

Transformer optimizers fuse every residual Add and the LayerNorm after it into one contrib op, on
the assumption that one kernel beats two. On this project's CPU (ONNX Runtime 1.31, an AMD EPYC with
AVX-512) the fused CPU kernel measured 2.7-7.2x slower than the pair, which is why the exported graphs
keep the pair and CPU sessions turn ORT's own load-time fusion off. ``mtkd bench --fusions``
re-measures it on the machine at hand, both candidates interleaved in one run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from compress.onnx.optimize import CPU_DISABLED_OPTIMIZERS

SHAPES = ((128, 64), (128, 256), (128, 768), (4096, 64))  # (tokens = batch x seq, hidden)


def layer_norm_graph(fused: bool, tokens: int, hidden: int) -> bytes:
    from onnx import TensorProto, helper

    dims = [1, tokens, hidden]
    x, skip, y = (helper.make_tensor_value_info(n, TensorProto.FLOAT, dims) for n in ("x", "skip", "y"))
    gamma = helper.make_tensor("gamma", TensorProto.FLOAT, [hidden], np.ones(hidden, np.float32))
    beta = helper.make_tensor("beta", TensorProto.FLOAT, [hidden], np.zeros(hidden, np.float32))
    if fused:
        nodes = [
            helper.make_node(
                "SkipLayerNormalization", ["x", "skip", "gamma", "beta"], ["y"], domain="com.microsoft", epsilon=1e-12
            )
        ]
    else:
        nodes = [
            helper.make_node("Add", ["x", "skip"], ["sum"]),
            helper.make_node("LayerNormalization", ["sum", "gamma", "beta"], ["y"], axis=-1, epsilon=1e-12),
        ]
    graph = helper.make_graph(nodes, "layer_norm", [x, skip], [y], [gamma, beta])
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    return model.SerializeToString()


def _session(graph: bytes, threads: int) -> Callable[[dict[str, np.ndarray]], object]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    # the unfused pair must stay a pair: without this ORT fuses it into the op it is compared with
    session = ort.InferenceSession(
        graph, opts, providers=["CPUExecutionProvider"], disabled_optimizers=list(CPU_DISABLED_OPTIMIZERS)
    )
    return lambda feed: session.run(None, feed)


def skip_layer_norm_timings(
    shapes: Sequence[tuple[int, int]] = SHAPES, threads: int = 1, rounds: int = 5, calls: int = 300
) -> list[dict[str, float]]:
    """Median microseconds per call of the fused op and of the pair for each (tokens, hidden),
    the two interleaved round by round so machine noise hits both alike."""
    rows = []
    rng = np.random.default_rng(0)
    for tokens, hidden in shapes:
        feed = {n: rng.standard_normal((1, tokens, hidden), dtype=np.float32) for n in ("x", "skip")}
        runs = {fused: _session(layer_norm_graph(fused, tokens, hidden), threads) for fused in (True, False)}
        times: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(rounds):
            for fused, run in runs.items():
                for _ in range(calls // 10):  # warm-up
                    run(feed)
                start = time.perf_counter()
                for _ in range(calls):
                    run(feed)
                times[fused].append((time.perf_counter() - start) / calls * 1e6)
        fused_us, pair_us = float(np.median(times[True])), float(np.median(times[False]))
        rows.append({"tokens": tokens, "hidden": hidden, "threads": threads, "fused_us": fused_us, "pair_us": pair_us})
    return rows


def format_timings(rows: list[dict[str, float]]) -> str:
    """A Markdown table of :func:`skip_layer_norm_timings` with the fused / pair ratio."""
    lines = [
        "| tokens | hidden | threads | SkipLayerNormalization µs | Add + LayerNormalization µs | fused / pair |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['tokens']} | {r['hidden']} | {r['threads']} | {r['fused_us']:.1f} | {r['pair_us']:.1f} "
            f"| {r['fused_us'] / r['pair_us']:.2f}× |"
        )
    return "\n".join(lines)
