"""``mtkd export``: a finished run's compressed model as a bundle, an Optimum directory or a Triton repository.

The run's own ``recipe.yaml`` says how each task's input is given (text, pair, pre-split words)
and the maximum length; its quantize report and bench results pick the artifact and fill the
model card.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compress.bundle import MANIFEST, Predictor, Serving, build_bundle
from compress.bundle.optimum_export import export_optimum
from compress.bundle.scoring import score_bundle
from compress.bundle.selection import bench_rows, choose_artifact, choose_for_device, choose_runtime
from compress.bundle.triton import export_triton
from compress.runtime import RUNTIMES
from distill.data.loading import load_task, load_tasks
from distill.errors import DataUnavailable, MtkdError
from distill.io import read_json, remove_leftover_temporaries
from distill.tasks import task_type
from recipes.loader import load_recipe
from recipes.pipeline import RECIPE_FILE
from recipes.schema import Recipe

from ..run_lock import new_directory_lock

log = logging.getLogger("mtkd")


def word_split(recipe: Recipe, task: str) -> str:
    """``chars`` when the tagger was trained on single characters (Chinese titles), else ``whitespace``."""
    try:
        data = load_task(task, recipe.tasks[task], recipe.seed, recipe.data)
    except DataUnavailable:
        log.warning("export: %s's data is absent; assuming whitespace-separated words", task)
        return "whitespace"
    words = [w for ex in data.splits["train"][:2000] for w in ex.text]
    return "chars" if words and sum(len(w) == 1 for w in words) >= 0.95 * len(words) else "whitespace"


def task_inputs(recipe: Recipe) -> dict[str, dict[str, str]]:
    """How each task's input is given, from its recipe entry."""
    out = {}
    for name, cfg in recipe.tasks.items():
        if task_type(cfg.type).per_token:
            out[name] = {"input": "tokens", "words": word_split(recipe, name)}
        else:
            out[name] = {"input": "pair" if cfg.text_pair else "text"}
    return out


def verification_table(bench: dict[str, dict[str, Any]], served: dict[str, dict[str, Any]]) -> str:
    """The artifact's metrics from the quantize stage beside the same metrics through the bundle."""
    lines = ["| task | metric | quantize stage | bundle | Δ |", "|---|---|---:|---:|---:|"]
    for name, m in served.items():
        ref = bench.get(name, {}).get("value")
        cells = (f"{ref:.4f}", f"{m['value'] - ref:+.4f}") if ref is not None else ("–", "–")
        lines.append(f"| {name} | {m['metric']} | {cells[0]} | {m['value']:.4f} | {cells[1]} |")
    return "\n".join(lines)


@dataclass(frozen=True)
class ExportOptions:
    """What to export and how: the format, the artifact, the runtime and device it is served on."""

    fmt: str = "bundle"
    """bundle, optimum (one task) or triton"""
    artifact: str | None = None
    """a quantize-stage artifact (default: the fastest within tolerance)"""
    task: str | None = None
    """the one task an Optimum directory serves"""
    verify: bool = True
    """re-score the test split through the bundle"""
    runtime: str = "auto"
    """the runtime a bundle is served by (auto: the bench's fastest within tolerance)"""
    device: str = "cpu"
    """cuda: the form, runtime and precision the GPU bench found fastest"""
    bench: Path | None = None
    """the bench folder to choose from (default RUN/bench)"""


def export_run(run: Path, out: Path, options: ExportOptions | None = None) -> str:
    """Export a run's artifact as a bundle, an Optimum directory (one task) or a Triton repository. With
    ``device="cuda"`` the bundle holds what a bench on that GPU (``options.bench``: its results folder) found
    fastest for a student at batch 1 within the quantize tolerance, served by that runtime at that precision."""
    o = options or ExportOptions()
    fmt, artifact, task, device, bench = o.fmt, o.artifact, o.task, o.device, o.bench
    if not (run / RECIPE_FILE).is_file():
        raise MtkdError(f"{run}: not a run directory (no {RECIPE_FILE})")
    recipe = load_recipe(str(run / RECIPE_FILE))
    tolerance = recipe.quantize.tolerance if recipe.quantize else 0.01
    on_gpu = choose_for_device(run, device, tolerance, bench) if device != "cpu" and fmt == "bundle" else None
    src = on_gpu[1] if on_gpu else choose_artifact(run, artifact)
    name = on_gpu[0] if on_gpu else src.name
    if fmt == "optimum":
        if not task:
            raise MtkdError("--format optimum exports one task: add --task NAME")
        info = export_optimum(src, task, out)
        return f"{out}: loads with {info['class']}.from_pretrained (task {task})"
    if fmt == "triton":
        folder = export_triton(src, out, f"{recipe.name}-{src.name}")
        return f"{folder}: Triton model ({folder / 'config.pbtxt'})"
    metrics_path = next((p for p in (src / "metrics.json", src.parent / "metrics.json") if p.is_file()), None)
    chosen = (on_gpu[2], on_gpu[3]) if on_gpu else serving_runtime(run, recipe, src, o.runtime)
    serve = Serving(*chosen, device) if chosen else None
    manifest = build_bundle(
        src,
        out,
        task_inputs(recipe),
        recipe.teacher.train.max_len,
        metrics=read_json(metrics_path) if metrics_path else None,
        latency=bench_rows(run, name, bench),
        source={"run": str(run), "recipe": recipe.name, "artifact": str(src), "artifact_name": name},
        serve=serve,
    )
    served = f"{manifest.runtime} {manifest.precision}"
    done = f"{out}: bundle of {name} (served by {served}, {len(manifest.tasks)} tasks, {MANIFEST})"
    if not o.verify:
        return done
    predictor = Predictor.load(out)
    tasks = load_tasks({n: recipe.tasks[n] for n in predictor.tasks}, recipe.seed, recipe.data)
    table = verification_table(manifest.metrics, score_bundle(predictor, tasks))
    return f"{done}\n\nTest metrics re-computed through the bundle's Predictor:\n\n{table}"


def serving_runtime(run: Path, recipe: Recipe, src: Path, runtime: str) -> tuple[str, str] | None:
    """``auto``: the runtime and precision the run's bench found fastest for ``src`` within the quantize
    tolerance; a runtime's name: that runtime at the artifact's own precision."""
    if runtime == "auto":
        return choose_runtime(run, src.name, recipe.quantize.tolerance) if (src / "model.onnx").is_file() else None
    backend = RUNTIMES.get(runtime)
    precision = read_json(src / "onnx.json").get("precision", "fp32") if (src / "onnx.json").is_file() else "fp32"
    reason = backend.unavailable(src, precision, "cpu")
    if reason:
        raise MtkdError(f"--runtime {runtime} cannot serve {src.name}: {reason}")
    return runtime, precision


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The run, the format, the artifact and how it is served, the output folder."""
    p.add_argument("run", type=Path, help="a finished run directory (e.g. runs/quickstart)")
    p.add_argument("--format", choices=("bundle", "optimum", "triton"), default="bundle")
    p.add_argument("--artifact", help="quantize-stage artifact (default: the fastest within tolerance)")
    p.add_argument(
        "--runtime",
        default="auto",
        help="runtime the bundle is served by (default auto: the bench's fastest for the artifact at batch 1 within "
        "tolerance, on real text where it timed the test split's lengths; else the one its model file suits)",
    )
    p.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="cuda: bundle the student form, runtime and precision the GPU bench (--bench) found fastest at batch 1 "
        "within tolerance (torch fp16/bf16, cast weights or CUDA graphs where TensorRT is absent)",
    )
    p.add_argument("--bench", type=Path, help="the bench folder to choose from (default RUN/bench)")
    p.add_argument("--task", help="the one task an Optimum directory serves")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--no-verify", action="store_true", help="skip re-scoring the test split through the bundle")


def run(args: argparse.Namespace) -> int:
    """Export into a folder no other mtkd writes, after removing what a killed export left unfinished."""
    options = ExportOptions(
        args.format, args.artifact, args.task, not args.no_verify, args.runtime, args.device, args.bench
    )
    with new_directory_lock(args.out):
        left = remove_leftover_temporaries(args.out)
        if left:
            log.info("removed what a killed export into %s left unfinished: %s", args.out, ", ".join(left))
        print(export_run(args.run, args.out, options))
    return 0
