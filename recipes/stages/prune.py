"""The ``prune`` stage: score heads and FFN neurons, cut them out, recover by distillation, measure.

One-shot (``steps: 1``) or iterative (each step removes an equal geometric share, then distils
from the *unpruned* model for ``recover_epochs``). The pruned model is a normal model directory
(``prune/model``) that reloads, exports and quantizes like any other; ``report.md`` shows each
task before and after, the parameters removed and the latency measured side by side.
"""

from __future__ import annotations

import logging
from typing import Any

from benchmarks.latency import torch_latency_ratio
from compress.prune.api import prune
from compress.prune.plan import PruneConfig
from distill.config import TrainConfig
from distill.io import write_json
from distill.model import MultiTaskModel
from distill.tokenization import load_tokenizer
from distill.workspace import Workspace
from recipes.pipeline import Context, Stage, register_stage, settings_of
from recipes.schema import Recipe

from .common import data_fingerprint, tasks_of
from .distill_report import share_text

log = logging.getLogger("mtkd")
SOURCES = {"student": "distill", "teacher": "teacher"}  # what is pruned → the stage that made it


def report_markdown(
    rows: dict[str, dict],
    params: tuple[int, int],
    prunable: tuple[int, int],
    latency: dict,
    shape: list[dict],
    vocabulary: dict[str, int] | None = None,
) -> str:
    vocab = (
        f"Vocabulary: {vocabulary['tokens_before']} → {vocabulary['tokens_after']} tokens (rows of tokens used fewer "
        f"than {vocabulary['min_count']} times in the training texts removed). "
        if vocabulary
        else ""
    )
    lines = [
        f"Attention + FFN parameters (what head and FFN pruning removes): {prunable[0] / 1e6:.3f}M → "
        f"{prunable[1] / 1e6:.3f}M ({100 * (1 - prunable[1] / prunable[0]):.1f}% removed). "
        f"{vocab}Encoder parameters, embeddings included: {params[0] / 1e6:.2f}M → {params[1] / 1e6:.2f}M "
        f"({params[1] / params[0]:.3f}). "
        f"Torch CPU latency at batch 1, seq {latency['seq_len']}: {latency['teacher_ms']:.2f} → "
        f"{latency['student_ms']:.2f} ms ({latency['speedup']:.2f}× faster), measured interleaved in one run.",
        "",
        "Layers (heads / FFN width): " + ", ".join(f"{s['heads']}/{s['ffn']}" for s in shape),
        "",
        "| task | metric | before | after | retention |",
        "|---|---|---:|---:|---:|",
    ]
    for task, r in rows.items():
        lines.append(
            f"| {task} | {r['metric']} | {r['before']:.4f} | {r['after']:.4f} | {share_text(r['retention'])} |"
        )
    return "\n".join(lines) + "\n"


@register_stage("prune")
class PruneStage(Stage):
    """Structured pruning of the student (or teacher), recovered by distillation from the unpruned model."""

    version = 2  # 2: the report counts attention + FFN parameters separately

    def needs_for(self, recipe: Recipe) -> tuple[str, ...]:
        return ("tokenizer", "teacher", SOURCES[recipe.prune.artifact]) if recipe.prune else ()

    def skip_reason(self, recipe: Recipe) -> str | None:
        if recipe.prune is None:
            return "the recipe has no prune section"
        if recipe.prune.artifact == "student" and recipe.student is None:
            return "prune.artifact is the student, but the recipe has no student"
        return None

    def settings(self, recipe: Recipe) -> dict[str, Any]:
        return {"prune": settings_of(recipe.prune), "data": data_fingerprint(recipe)}

    def run(self, ctx: Context) -> dict[str, Any]:
        cfg: PruneConfig = ctx.recipe.prune
        base: TrainConfig = (ctx.recipe.student if cfg.artifact == "student" else ctx.recipe.teacher).train
        source = ctx.input(SOURCES[cfg.artifact]) / "model"
        work = Workspace(tasks_of(ctx), load_tokenizer(str(source)), ctx.out, ctx.device, ctx.recipe.seed, ctx.resume)
        done = prune(MultiTaskModel.from_pretrained(source), work, cfg, base)
        model, params, prunable = done.model, done.encoder_params, done.prunable_params
        latency = torch_latency_ratio(done.reference, model, base.max_len, model.config.vocab_size)
        rows = {
            t: {
                "metric": m["metric"],
                "before": done.before[t]["value"],
                "after": m["value"],
                "baseline": m["baseline"],
                "higher_is_better": m["higher_is_better"],
                "retention": kept,
            }
            for (t, m), kept in zip(done.after.items(), done.retention.values(), strict=True)
        }
        write_json(ctx.out / "metrics.json", done.after)
        summary = {
            "encoder_params": list(params),
            "prunable_params": list(prunable),
            "latency": latency,
            "layers": done.shape,
            "tasks": rows,
            **({"vocabulary": done.vocabulary} if done.vocabulary else {}),
        }
        text = report_markdown(rows, params, prunable, latency, done.shape, done.vocabulary)
        if done.masks:
            summary["masks"] = {**done.masks, "cpu_speedup": False}
            text += (
                f"\nMasks: {done.masks['pattern']} sparsity {done.masks['sparsity']:.1%} of the encoder's Linear "
                "weights, baked in as zeros for TensorRT's sparse-weights option: no CPU speedup (dense kernels "
                "multiply the zeros); the latency above is the structured pruning's.\n"
            )
        write_json(ctx.out / "report.json", summary)
        (ctx.out / "report.md").write_text(text)
        return {
            "param_ratio": params[1] / params[0],
            "prunable_removed": 1 - prunable[1] / prunable[0],
            "speedup_cpu_b1": latency["speedup"],
            "layers": done.shape,
        }
