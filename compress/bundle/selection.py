"""Which exported artifact of a finished run becomes the deliverable, and what its bench measured.

A run directory holds ``quantize/<artifact>/model.onnx`` and ``compile/<engine>/model.plan``, with
``quantize/report.json`` (accuracy per artifact) and ``bench/results.jsonl`` (latency per shape).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from compress.run_artifacts import discover_artifacts
from distill.errors import ArtifactError
from distill.io import read_json
from distill.retention import drop

log = logging.getLogger("mtkd")
PRECISION_ORDER = {"int8": 0, "fp16": 1, "fp32": 2}  # the default pick: smallest precision within tolerance


def exported_artifacts(run: Path) -> dict[str, Path]:
    """The quantize stage's ONNX artifacts and the compile stage's TensorRT engines of a run, by name
    (engines are exported by name only: a plan runs on the GPU model it was built for)."""
    onnx_graphs = sorted((run / "quantize").glob("*/model.onnx"))
    return {p.parent.name: p.parent for p in [*onnx_graphs, *sorted((run / "compile").glob("*/model.plan"))]}


def choose_artifact(run: Path, name: str | None) -> Path:
    """``name`` if given; else, among mtkd's own artifacts (not a peer tool's) within the accuracy
    tolerance at the lowest precision, the fastest at batch 1 in the run's bench results (the smallest
    file when none were measured)."""
    found = exported_artifacts(run)
    if not found:
        raise ArtifactError(f"{run}: no exported artifacts; run its quantize stage first (mtkd run <recipe>)")
    if name:
        if name not in found:
            raise ArtifactError(f"{run}: no artifact {name!r}; exported: {', '.join(found)}")
        return found[name]
    report_path = run / "quantize" / "report.json"
    report = read_json(report_path) if report_path.is_file() else {}
    graphs = [n for n in found if (found[n] / "model.onnx").is_file()]  # the default is portable: never a plan
    # peers and the teacher's own exports (quantize.teacher_presets) are there for comparison
    graphs = [n for n in graphs if not {"peer", "teacher_alternative"} & set(report.get(n, {}))] or graphs
    ok = [n for n in graphs if report.get(n, {}).get("within_tolerance", n.endswith("-fp32"))] or graphs
    lowest = min(PRECISION_ORDER.get(report.get(n, {}).get("precision"), 9) for n in ok)
    ok = [n for n in ok if PRECISION_ORDER.get(report.get(n, {}).get("precision"), 9) == lowest]

    def p50(n: str) -> float:
        rows = [r for r in bench_rows(run, n) if r["batch_size"] == 1]
        longest = max((r["seq_len"] for r in rows), default=0)
        return min((r["latency_ms"]["p50"] for r in rows if r["seq_len"] == longest), default=float("inf"))

    best = min(ok, key=lambda n: (p50(n), (found[n] / "model.onnx").stat().st_size, n))
    log.info("export: artifact %s (fastest at batch 1 within the quantize tolerance; --artifact to choose)", best)
    return found[best]


def choose_runtime(run: Path, artifact: str, tolerance: float = 0.01) -> tuple[str, str] | None:
    """(runtime, precision) that served ``artifact`` fastest at batch 1 in the run's bench with every task
    within ``tolerance`` of the artifact's own quantize-stage metrics (OpenVINO bf16 on an FP32 graph, say):
    timed on the test split's own lengths where the bench measured them, else at its longest sequence;
    None when the bench did not measure it, and the bundle keeps the runtime its model file suits."""
    report_path = run / "quantize" / "report.json"
    own = read_json(report_path).get(artifact, {}).get("tasks", {}) if report_path.is_file() else {}
    rows = [r for r in bench_rows(run, artifact) if r["batch_size"] == 1 and r.get("device", "cpu") == "cpu"]
    longest = max((r["seq_len"] for r in rows), default=0)

    def close(r: dict[str, Any]) -> bool:
        return all(drop(m, own[task]) <= tolerance for task, m in r.get("tasks", {}).items() if task in own)

    fits = [r for r in rows if r["seq_len"] == longest and close(r)]
    if not fits:
        return None
    # what a bundle serves is real text: where the bench timed the test split's own lengths, that decides
    # (OpenVINO, fastest at 128 tokens, can be several times slower than ONNX Runtime at 13)
    real = real_length_ms(run, artifact)
    timed = [r for r in fits if (r["runtime"], r["precision"]) in real]
    if timed:
        best, basis = min(timed, key=lambda r: real[r["runtime"], r["precision"]]), "the test split's own lengths"
    else:
        best, basis = min(fits, key=lambda r: r["latency_ms"]["p50"]), f"{longest} tokens"
    runtime = re.sub(r"-\d+t$", "", best["runtime"])  # "openvino-2t": the grid swept thread counts
    log.info(
        "export: runtime %s at %s (fastest for %s at batch 1 on %s, within tolerance)",
        runtime,
        best["precision"],
        artifact,
        basis,
    )
    return runtime, best["precision"]


def real_length_ms(run: Path, artifact: str) -> dict[tuple[str, str], float]:
    """(runtime label, precision) → ms for one pass over the test examples at batch 1, from the run's bench."""
    path = run / "bench" / "real-length.jsonl"
    if not path.is_file():
        return {}
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {
        (r["runtime"], r["precision"]): r["pass_ms"] for r in rows if r["artifact"] == artifact and r["batch_size"] == 1
    }


def bench_rows(run: Path, artifact: str, bench_dir: Path | None = None) -> list[dict[str, Any]]:
    path = (bench_dir or run / "bench") / "results.jsonl"
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if r["artifact"] == artifact]


def choose_for_device(
    run: Path, device: str, tolerance: float, bench_dir: Path | None = None
) -> tuple[str, Path, str, str]:
    """(artifact name, its path, runtime, precision) that served a student fastest on ``device`` at batch 1
    (longest sequence) in a bench of the run (``bench_dir``: e.g. the GPU check's), with every task within
    ``tolerance`` of that artifact's own FP32 metrics: on a GPU without TensorRT that is a PyTorch runtime
    (cast weights, autocast, CUDA graphs) on the pruned student's model directory. Teachers and peer tools'
    exports are never chosen."""
    found = discover_artifacts(run)
    path = (bench_dir or run / "bench") / "results.jsonl"
    if not path.is_file():
        raise ArtifactError(f"{path}: no bench results; run `mtkd bench {run} --gpu-check` (or --bench DIR) first")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    report_path = run / "quantize" / "report.json"
    report = read_json(report_path) if report_path.is_file() else {}
    rows = [
        r
        for r in rows
        if r.get("device") == device
        and r["batch_size"] == 1
        and r["artifact"] in found
        and not r["artifact"].startswith("teacher")
        and not {"peer", "teacher_alternative"} & set(report.get(r["artifact"], {}))
    ]
    longest = max((r["seq_len"] for r in rows), default=0)
    fits = [
        r for r in rows if r["seq_len"] == longest and _within(r, own_metrics(found[r["artifact"]], report), tolerance)
    ]
    if not fits:
        raise ArtifactError(f"{path}: no student row on {device} at batch 1 within {tolerance:.0%} of its own metrics")
    best = min(fits, key=lambda r: r["latency_ms"]["p50"])
    runtime = re.sub(r"-\d+t$", "", best["runtime"])
    log.info(
        "export: %s through %s at %s (fastest on %s at batch 1, within tolerance)",
        best["artifact"],
        runtime,
        best["precision"],
        device,
    )
    return best["artifact"], found[best["artifact"]], runtime, best["precision"]


def own_metrics(artifact: Path, report: dict[str, Any]) -> dict[str, float]:
    """An artifact's own test metric per task: a quantize graph's from the quantize report, a model
    directory's from its stage's ``metrics.json``."""
    if artifact.name in report:
        return report[artifact.name].get("tasks", {})
    for candidate in (artifact / "metrics.json", artifact.parent / "metrics.json"):
        if candidate.is_file():
            return {t: m["value"] for t, m in read_json(candidate).items() if isinstance(m, dict) and "value" in m}
    return {}


def _within(row: dict[str, Any], own: dict[str, Any], tolerance: float) -> bool:
    tasks = row.get("tasks", {})
    return bool(own) and all(drop(m, own[t]) <= tolerance for t, m in tasks.items() if t in own)
