"""``mtkd bench``: latency and per-task accuracy of a run's models or one model; GEMM peaks; fusions; GPU check."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from distill.errors import RecipeError

from ..run_lock import run_lock
from .options import add_set_option


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The target, its recipe and grid overrides, and the three special measurements."""
    p.add_argument("target", type=Path, nargs="?", help="a run directory or a model directory")
    p.add_argument("--recipe", help="recipe for the tasks and grid (default: the run's recipe.yaml)")
    add_set_option(p, "e.g. --set bench.batch_sizes=[1,8]")
    p.add_argument("--out", type=Path, help="output directory (default runs/bench/<target>-<time>)")
    p.add_argument(
        "--peak",
        action="store_true",
        help="measure this device's fp32, INT8 and bf16 GEMM peaks, through torch and each installed runtime",
    )
    p.add_argument(
        "--fusions",
        action="store_true",
        help="time ONNX Runtime's fused SkipLayerNormalization against Add + LayerNormalization (1 and 2 threads)",
    )
    p.add_argument(
        "--gpu-check",
        action="store_true",
        help="on a CUDA GPU: build the run's TensorRT engines, then time torch fp16/bf16, torch.compile, "
        "ONNX Runtime CUDA/TensorRT and the engines side by side, with per-task accuracy",
    )


def print_peaks() -> None:
    """This device's GEMM peaks through torch and each installed runtime."""
    from benchmarks.peak import gemm_peaks, peak_lines
    from benchmarks.runtime_peak import GRAPHS, runtime_peaks

    peak = gemm_peaks()
    peak["by_runtime"] = runtime_peaks({(r, p) for r, precisions in GRAPHS.items() for p in precisions})
    print(f"GEMM peaks (best of square products {peak['sizes']}, {peak['threads']} threads, {peak['device']}):")
    print("\n".join(f"  {line}" for line in peak_lines(peak)))
    if not peak["bf16_flops"]:
        print("  bf16: not native here (no AVX-512 BF16 / AMX): not measured")


def run(args: argparse.Namespace) -> int:
    """The peaks and fusions first (each alone is a whole command), then the target's bench."""
    if args.peak:
        print_peaks()
    if args.fusions:
        from benchmarks.fusions import format_timings, skip_layer_norm_timings

        print(format_timings([row for threads in (1, 2) for row in skip_layer_norm_timings(threads=threads)]))
    if args.target is None:
        if args.peak or args.fusions:
            return 0
        raise RecipeError("mtkd bench: give a run or model directory (or --peak, --fusions)")
    if args.gpu_check:
        from .gpu_check import gpu_check

        out = gpu_check(args.target, args.overrides, args.out)
    else:
        from ..stages.bench import bench_target

        with run_lock(args.out) if args.out else contextlib.nullcontext():  # the default folder is new each time
            out = bench_target(args.target, args.recipe, args.overrides, args.out)
    print(f"done: {out}/report.md")
    return 0
