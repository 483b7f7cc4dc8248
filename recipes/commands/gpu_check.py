"""``mtkd bench RUN --gpu-check``: the full GPU table a user with an NVIDIA GPU runs once.

Builds the run's TensorRT engines where missing (FP32, FP16, INT8 from the Q/DQ graphs, FP8 on
compute capability 8.9+), then measures, side by side in one interleaved sweep on the GPU: torch
eager (fp32, fp16/bf16 autocast), weights cast to fp16/bf16, CUDA graphs, ONNX Runtime's CUDA and
TensorRT providers, and the engines, per batch size and sequence length, with every task's accuracy
through each runtime. Where TensorRT and onnxruntime-gpu are absent their rows are listed with the reason.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.config import BenchConfig
from benchmarks.harness import discover_artifacts
from compress.tensorrt.availability import tensorrt_unavailable
from compress.tensorrt.compile import source_graph
from compress.tensorrt.config import ENGINE_PRECISIONS, CompileConfig
from distill.data.loading import load_tasks
from distill.errors import MtkdError
from recipes.loader import load_recipe
from recipes.pipeline import RECIPE_FILE, run_pipeline
from recipes.stages import register_stages
from recipes.stages.bench import HISTORY, bench_into
from recipes.stages.quantize import chosen

log = logging.getLogger("mtkd")
# PyTorch alone answers on a GPU box without TensorRT or onnxruntime-gpu: eager (fp32, fp16/bf16 autocast), cast
# weights and CUDA graphs. torch.compile is left to `mtkd bench` (bench.runtimes): its compiles, one per artifact
# and precision, take minutes the check's 8 do not have
RUNTIMES = ["torch", "torch-cast", "torch-cudagraph", "onnxruntime", "onnxruntime-trt", "tensorrt"]
PRECISIONS = ["fp32", "fp16", "bf16", "int8", "fp8"]


def gpu_unavailable() -> str | None:
    import torch

    return None if torch.cuda.is_available() else "no CUDA GPU is visible to torch"


def engine_precisions(quantize_dir: Path, artifact: str) -> list[str]:
    """The engine variants whose source graphs the quantize stage made (compile skips FP8 on older GPUs)."""
    return [v for v in ENGINE_PRECISIONS if source_graph(quantize_dir, artifact, v).is_file()]


def gpu_check(run_dir: Path, overrides: list[str], out: Path | None = None) -> Path:
    """Compile what is missing, then bench every runtime × precision on the GPU; returns the report dir."""
    reason = gpu_unavailable()
    if reason:
        raise MtkdError(f"mtkd bench --gpu-check needs a CUDA GPU: {reason}")
    if not (run_dir / RECIPE_FILE).is_file():
        raise MtkdError(f"{run_dir}: not a run directory (no {RECIPE_FILE}); run a recipe first")
    register_stages()
    recipe = load_recipe(str(run_dir / RECIPE_FILE), overrides)
    trt_reason = tensorrt_unavailable()
    if trt_reason:
        log.warning("gpu-check: no TensorRT engines: %s", trt_reason)
    elif recipe.quantize is not None:
        compile_cfg = recipe.compile or CompileConfig()
        variants = engine_precisions(run_dir / "quantize", chosen(recipe)[0])
        if variants:
            recipe = recipe.model_copy(update={"compile": compile_cfg.model_copy(update={"precisions": variants})})
            run_pipeline(recipe, run_dir, ["compile"], device="cuda", save_recipe=False)
        else:
            log.warning("gpu-check: the quantize stage made no graph to build an engine from")
    bench = (recipe.bench or BenchConfig()).model_copy(
        update={"runtimes": RUNTIMES, "precisions": PRECISIONS, "device": "cuda", "threads": None}  # CPU sweeps: no
    )
    tasks = load_tasks(recipe.tasks, recipe.seed, recipe.data) if bench.accuracy else None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = out or run_dir.parent / "bench" / f"{run_dir.name}-gpu-{stamp}"
    artifacts = discover_artifacts(run_dir)
    bench_into(out, artifacts, bench, tasks, recipe.teacher.train.max_len, run_dir.parent / HISTORY, str(run_dir))
    return out
