"""Sweep the grid: every candidate's latency per shape (interleaved) and accuracy per task."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from compress.run_artifacts import ARTIFACT_NAMES, discover_artifacts  # noqa: F401 (the bench's naming)
from compress.runtime import RUNTIMES, Backend, load_backend
from compress.runtime.accuracy import backend_accuracy
from compress.runtime.onnxruntime_backend import artifact_precision
from compress.runtime.tensorrt_backend import engine_precision
from distill.data.examples import TaskData
from distill.errors import MtkdError

from .config import BenchConfig
from .env import environment
from .flops import encoder_flops
from .latency import cuda_timer, interleaved
from .real_length import real_length_rows

log = logging.getLogger("mtkd")


@dataclass(frozen=True)
class Candidate:
    """One thing to measure: an artifact through one runtime at one precision."""

    artifact: str
    path: Path
    runtime: str
    precision: str
    device: str = "cpu"
    threads: int | None = None  # set when the grid sweeps thread counts: part of the candidate's name

    @property
    def runtime_label(self) -> str:
        return self.runtime if self.threads is None else f"{self.runtime}-{self.threads}t"

    @property
    def label(self) -> str:
        return f"{self.artifact}/{self.runtime_label}/{self.precision}"


def rss_mb() -> float:
    """Resident memory of this process in MB (Linux /proc; 0 where unavailable)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError):
        return 0.0


def synthetic_batch(batch: int, seq: int, vocab: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random token ids with a full attention mask: latency does not depend on which tokens."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, vocab, size=(batch, seq), dtype=np.int64)
    return {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}


def precisions_to_try(built: str | None, requested: list[str]) -> list[str]:
    """A built artifact runs at its own precision, and an FP32 graph also at bf16 when asked (a runtime that
    computes in bf16 from FP32 weights: OpenVINO, torch autocast); a model directory at every precision asked."""
    if not built:
        return list(requested)
    return [built] + (["bf16"] if built == "fp32" and "bf16" in requested else [])


def candidates_for(artifacts: dict[str, Path], cfg: BenchConfig) -> tuple[list[Candidate], list[dict]]:
    """Every artifact × runtime × precision that can run here, and the ones that cannot (with why)."""
    device = "cuda" if cfg.device == "auto" and torch.cuda.is_available() else cfg.device.replace("auto", "cpu")
    sweep: list[int | None] = list(cfg.threads) if cfg.threads and len(cfg.threads) > 1 else [None]
    keep, skipped = [], []
    for name, path in artifacts.items():
        built = artifact_precision(path) or engine_precision(path)  # built artifacts run at their precision
        for runtime in cfg.runtimes:
            backend = RUNTIMES.get(runtime)
            if not backend.accepts(path):  # e.g. torch and an ONNX artifact: not a combination
                continue
            for precision in precisions_to_try(built, cfg.precisions):
                reason = backend.unavailable(path, precision, device)
                if precision == "fp8" and runtime == "onnxruntime":  # reference Q/DQ kernels: accuracy, not speed
                    reason = "ONNX Runtime simulates FP8 Q/DQ (accuracy in the quantize report); time it via tensorrt"
                for threads in sweep:
                    cand = Candidate(name, path, runtime, precision, device, threads)
                    (skipped.append({"candidate": cand.label, "reason": reason}) if reason else keep.append(cand))
    return keep, skipped


def run_grid(
    artifacts: dict[str, Path],
    cfg: BenchConfig,
    tasks: dict[str, TaskData] | None = None,
    max_len: int = 128,
    real_length: list[dict] | None = None,
) -> tuple[list[dict], list[dict]]:
    """Measure every candidate at every (batch, seq); returns result rows and skipped candidates. With
    ``tasks`` and a ``real_length`` list, also time each candidate on the test split's own lengths into it."""
    cands, skipped = candidates_for(artifacts, cfg)
    for s in skipped:
        log.info("bench: skipped %s: %s", s["candidate"], s["reason"])
    env = environment()
    default_threads = cfg.threads[0] if cfg.threads and len(cfg.threads) == 1 else torch.get_num_threads()
    loaded: dict[Candidate, Backend] = {}
    extra: dict[Candidate, dict] = {}
    for cand in cands:
        torch.set_num_threads(cand.threads or default_threads)  # ONNX Runtime sessions take torch's count
        try:
            loaded[cand], extra[cand] = load_candidate(cand, cfg, tasks, max_len)
        except MtkdError as e:
            skipped.append({"candidate": cand.label, "reason": str(e)})
        except Exception as e:  # a GPU provider refusing a graph or a shape is a finding of the sweep, not its end
            log.warning("bench: %s failed to load or run: %s: %s", cand.label, type(e).__name__, e)
            skipped.append({"candidate": cand.label, "reason": f"failed to load or run: {type(e).__name__}: {e}"})
    rows = []
    grid = [(b, s) for b in cfg.batch_sizes for s in cfg.seq_lens]
    for batch, seq in tqdm(grid, desc="bench grid", unit="shape", disable=None):
        inputs = {c: synthetic_batch(batch, seq, extra[c]["vocab"]) for c in loaded}
        calls = {c: _threaded(loaded[c], inputs[c], c.threads or default_threads) for c in loaded}
        # CUDA events on the current stream bracket torch's and ORT's GPU work; a TensorRT engine runs on its own
        # stream, so with one in the sweep every candidate is timed end to end by the wall clock (each call returns
        # host arrays, so it has waited for its GPU work) and the engine alone is reported apart (engine_ms)
        on_gpu = any(c.device == "cuda" for c in loaded)
        timer = cuda_timer() if on_gpu and not any(hasattr(b, "engine_ms") for b in loaded.values()) else None
        stats = interleaved(calls, warmup=cfg.warmup, iters=cfg.iters, rounds=cfg.rounds, timer=timer)
        for cand, st in stats.items():
            timing = engine_timing(loaded[cand], inputs[cand], cfg.iters)
            rows.append(_row(cand, extra[cand], loaded[cand].heads, (batch, seq), st, timing, default_threads, env))
    if real_length is not None and tasks is not None and cfg.real_length_examples and loaded:
        log.info("bench: %d test examples per task at their own lengths", cfg.real_length_examples)
        real_length += real_length_rows(
            loaded, tasks, cfg.batch_sizes, cfg.real_length_examples, max_len, cfg.rounds, default_threads
        )
    torch.set_num_threads(env["torch_threads"])
    return rows, skipped


def load_candidate(cand: Candidate, cfg: BenchConfig, tasks: dict[str, TaskData] | None, max_len: int):
    """The candidate's backend, run once at the grid's largest shape, and what is known of it before timing:
    memory, size, parameters, the provider it really ran on, and its accuracy per task."""
    before = rss_mb()
    gpu_before = 0
    if cand.device == "cuda":  # earlier candidates stay loaded: count only what this one adds at its peak
        torch.cuda.reset_peak_memory_stats()
        gpu_before = torch.cuda.memory_allocated()
    backend = load_backend(cand.runtime, cand.path, cand.precision, cand.device, max(cfg.batch_sizes))
    config = backend.model_config
    vocab = config.vocab_size if config is not None else 1000
    backend(synthetic_batch(max(cfg.batch_sizes), max(cfg.seq_lens), vocab))  # largest shape, once
    info: dict[str, Any] = {
        "memory_mb": rss_mb() - before,
        "size_mb": backend.size_mb(),
        "vocab": vocab,
        "params": backend.num_parameters(),
        "config": config,
        "provider": getattr(backend, "provider", None),  # what an ONNX Runtime session really ran on
    }
    if cand.device == "cuda":  # what torch allocated on the GPU for it (ONNX Runtime's arena is not seen here)
        info["gpu_memory_mb"] = (torch.cuda.max_memory_allocated() - gpu_before) / 1e6
    if tasks is not None and cfg.accuracy:
        started = time.perf_counter()
        info["tasks"] = backend_accuracy(backend, tasks, max_len)
        log.info("bench: %s accuracy through %s in %.1f s", cand.artifact, cand.runtime, time.perf_counter() - started)
    return backend, info


def _row(cand: Candidate, info: dict, heads, shape: tuple[int, int], st, timing: dict, threads: int, env: dict) -> dict:
    """One result row: the candidate at one (batch, seq), its latency, throughput, FLOPs and accuracy."""
    batch, seq = shape
    flops = encoder_flops(info["config"], seq, heads) if info["config"] is not None else None
    throughput = batch / (st.p50 / 1e3)
    return {
        "artifact": cand.artifact,
        "runtime": cand.runtime_label,
        "precision": cand.precision,
        "device": cand.device,
        **({"provider": info["provider"]} if info["provider"] else {}),
        "threads": cand.threads or threads,
        "batch_size": batch,
        "seq_len": seq,
        "latency_ms": st.as_dict(),
        "throughput": throughput,
        **timing,
        "memory_mb": info["memory_mb"],
        "gpu_memory_mb": info.get("gpu_memory_mb"),
        "size_mb": info["size_mb"],
        "params": info.get("params"),
        "flops_per_sample": flops,
        "achieved_flops": flops * throughput if flops else None,
        "tasks": {
            t: {k: m[k] for k in ("metric", "value", "baseline", "higher_is_better")}
            for t, m in info.get("tasks", {}).items()
        },
        "env": env,
    }


def engine_timing(backend: Backend, batch: dict[str, np.ndarray], iters: int) -> dict[str, float]:
    """``{"engine_ms": …}`` for a runtime that can time its engine apart from copies (TensorRT), else nothing."""
    timing = getattr(backend, "engine_ms", None)
    return {"engine_ms": timing(batch, iters)} if timing else {}


def _threaded(backend: Backend, batch: dict[str, np.ndarray], threads: int):
    """One timed call at ``threads`` torch threads (switched only when another candidate changed them;
    a switch lands in one sample of a round, and each figure is a median)."""

    def call() -> object:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        return backend(batch)

    return call
