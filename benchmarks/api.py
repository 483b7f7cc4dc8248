"""Benchmark artifacts from Python — what the pipeline's ``bench`` stage and ``mtkd bench`` call.

    from benchmarks.api import bench
    from benchmarks.config import BenchConfig

    summary = bench({"student": Path("runs/api/student/model"),
                     "student-dynamic-int8": Path("runs/api/onnx/student-dynamic-int8")},
                    BenchConfig(batch_sizes=[1, 32], seq_lens=[128], runtimes=["torch", "onnxruntime"]),
                    "runs/api/bench", tasks=tasks, max_len=64)
    for row in summary["results"]: print(row["candidate"], row["batch_size"], row["latency_ms"]["p50"])

Every artifact × runtime × precision that can run here is timed interleaved at every (batch,
sequence) shape and scored per task through that runtime; ``<out>`` receives results.jsonl,
report.md (with this machine's ``doctor`` table), doctor.json and the Pareto plots.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from distill.data.examples import TaskData
from distill.errors import MtkdError
from distill.io import write_json

from .config import BenchConfig
from .doctor import diagnose, doctor_table
from .harness import run_grid
from .history import record
from .peak import gemm_peaks
from .report import Measured, write_all
from .runtime_peak import runtime_peaks

log = logging.getLogger("mtkd")


def bench(
    artifacts: dict[str, Path],
    cfg: BenchConfig,
    out: str | Path,
    *,
    tasks: dict[str, TaskData] | None = None,
    max_len: int = 128,
    history: Path | None = None,
    label: str = "",
) -> dict[str, Any]:
    """Measure ``artifacts`` (name → model directory, ONNX artifact or engine) over ``cfg``'s grid, write the
    reports into ``out`` and, with ``history``, record the run there under ``label``. Returns the summary:
    result rows, skipped candidates with their reasons, plot files, the GEMM peak, the history id."""
    out = Path(out)
    if not artifacts:
        raise MtkdError(
            f"{label or out}: no model to benchmark (expected <stage>/model directories or a model directory)"
        )
    log.info(
        "bench: %s over batch %s × seq %s × %s × %s",
        ", ".join(artifacts),
        cfg.batch_sizes,
        cfg.seq_lens,
        cfg.runtimes,
        cfg.precisions,
    )
    real: list[dict] = []
    rows, skipped = run_grid(artifacts, cfg, tasks if cfg.accuracy else None, max_len, real)
    peak = gemm_peaks(device="cuda" if any(r["device"] == "cuda" for r in rows) else "cpu")
    cpu_pairs = {(r["runtime"], r["precision"]) for r in rows if r["device"] == "cpu"}
    peak["by_runtime"] = runtime_peaks(cpu_pairs, torch_threads=peak["threads"] if peak["device"] == "cpu" else None)
    summary = write_all(out, Measured(rows, skipped, cfg.shape, peak, cfg.tolerance, real))
    machine = diagnose()  # what this machine can run, beside what it measured
    write_json(out / "doctor.json", machine)
    with (out / "report.md").open("a", encoding="utf-8") as report:
        report.write("\n## This machine (`mtkd doctor`)\n\n" + doctor_table(machine))
    summary["history_id"] = record(history, label or str(out), rows) if history is not None else None
    summary["peak"] = peak
    log.info("bench: %d results (history id %s)", len(rows), summary["history_id"])
    return {**summary, "results": rows, "real_length": real}
