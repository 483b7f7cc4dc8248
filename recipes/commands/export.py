"""``mtkd export``, ``mtkd predict`` and ``mtkd loadtest``: from a finished run to something served.

The run's own ``recipe.yaml`` says how each task's input is given (text, pair, pre-split words)
and the maximum length; its quantize report and bench results pick the artifact and fill the
model card.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from compress.bundle import MANIFEST, Predictor, build_bundle
from compress.bundle.optimum_export import export_optimum
from compress.bundle.scoring import score_bundle
from compress.bundle.selection import bench_rows, choose_artifact, choose_for_device, choose_runtime
from compress.bundle.triton import export_triton
from compress.runtime import RUNTIMES
from distill.data.loading import load_task, load_tasks
from distill.errors import DataUnavailable, MtkdError
from distill.io import read_json
from distill.tasks import task_type
from recipes.loader import load_recipe
from recipes.pipeline import RECIPE_FILE
from recipes.schema import Recipe

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


def export_run(
    run: Path,
    fmt: str,
    out: Path,
    artifact: str | None = None,
    task: str | None = None,
    verify: bool = True,
    runtime: str = "auto",
    device: str = "cpu",
    bench: Path | None = None,
) -> str:
    """Export a run's artifact as a bundle, an Optimum directory (one task) or a Triton repository. With
    ``device="cuda"`` the bundle holds what a bench on that GPU (``bench``: its results folder) found fastest
    for a student at batch 1 within the quantize tolerance, served by that runtime at that precision."""
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
    serve = (on_gpu[2], on_gpu[3]) if on_gpu else serving_runtime(run, recipe, src, runtime)
    manifest = build_bundle(
        src,
        out,
        task_inputs(recipe),
        recipe.teacher.train.max_len,
        metrics=read_json(metrics_path) if metrics_path else None,
        latency=bench_rows(run, name, bench),
        source={"run": str(run), "recipe": recipe.name, "artifact": str(src), "artifact_name": name},
        serve=serve,
        device=device,
    )
    served = f"{manifest['runtime']} {manifest['precision']}"
    done = f"{out}: bundle of {name} (served by {served}, {len(manifest['tasks'])} tasks, {MANIFEST})"
    if not verify:
        return done
    predictor = Predictor.load(out)
    tasks = load_tasks({n: recipe.tasks[n] for n in predictor.tasks}, recipe.seed, recipe.data)
    table = verification_table(manifest["metrics"], score_bundle(predictor, tasks))
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


def parse_line(line: str) -> str | tuple[str, str]:
    """A command-line input: ``query<TAB>title`` is a pair, anything else one text."""
    if "\t" in line:
        first, second = line.split("\t", 1)
        return first, second
    return line


def predict_lines(bundle: Path, lines: Iterable[str], tasks: list[str] | None) -> list[dict[str, Any]]:
    """One JSON-ready answer per line, in order, always: predictions, or ``error`` for that line alone (an
    empty line, a pair where the task takes one text, …) while the other lines are still answered."""
    predictor = Predictor.load(bundle)
    inputs = [parse_line(x.rstrip("\n")) for x in lines]
    results: list[dict[str, Any]] = [{"input": x} for x in inputs]
    for pairs in (False, True):  # one call per input shape: a pair line does not fail the text lines
        idx = [i for i, x in enumerate(inputs) if isinstance(x, tuple) == pairs]
        if not idx:
            continue
        try:
            for i, pred in zip(idx, predictor.predict([inputs[i] for i in idx], tasks), strict=True):
                results[i].update(pred)
        except MtkdError as e:  # e.g. pair lines for a text task: those lines fail, the others do not
            for i in idx:
                results[i]["error"] = str(e)
    return results


def stdin_lines() -> list[str]:
    """Standard input's lines; bytes that are not UTF-8 become U+FFFD instead of stopping the command."""
    raw = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode("utf-8", "replace")
    return raw.decode("utf-8", "replace").splitlines()


def run_predict(bundle: Path, texts: list[str], tasks: list[str] | None) -> int:
    """Print one JSON line per input line; exit 3 when some inputs got an ``error`` instead of predictions."""
    lines = texts or stdin_lines()
    results = predict_lines(bundle, lines, tasks)
    for result in results:  # a lone surrogate in an echoed input is written escaped, not a crash
        print(json.dumps(result, ensure_ascii=False).encode("utf-8", "backslashreplace").decode("utf-8"))
    failed = sum("error" in r for r in results)
    if failed:
        print(f"mtkd: {failed} of {len(results)} inputs not predicted (see their error fields)", file=sys.stderr)
    return 3 if failed else 0


def run_loadtest(bundle: Path, threads: int, requests: int, texts: list[str]) -> str:
    """One thread, then ``threads`` threads, each making ``requests`` single-input calls."""
    from benchmarks.load import load_report, run_load

    predictor = Predictor.load(bundle)
    pool = [parse_line(t) for t in texts] or sample_inputs(predictor)

    def call(x: Any) -> Any:
        return predictor.predict([x])

    single = run_load(call, pool, 1, requests)
    loaded = run_load(call, pool, threads, requests)
    if loaded["errors"] or single["errors"]:
        log.error("load test errors: %s", (single["error_samples"] + loaded["error_samples"])[:5])
    return load_report(single, loaded)


def sample_inputs(predictor: Predictor) -> list[str | tuple[str, str]]:
    """Varied inputs for a load test when none are given: texts (or pairs, for a pairs-only bundle)."""
    kinds = {t["input"] for t in predictor.tasks.values()}
    words = ["red", "cotton", "shirt", "wireless", "earbuds", "steel", "pan", "dog", "leash", "oak", "desk", "gel"]
    texts = [" ".join(words[(i + k) % len(words)] for k in range(3 + i % 9)) for i in range(64)]
    if kinds <= {"pair"}:
        return [(t, texts[-i - 1]) for i, t in enumerate(texts)]
    return list(texts)
