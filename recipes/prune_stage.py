"""The ``prune`` stage: score heads and FFN neurons, cut them out, recover by distillation, measure.

One-shot (``steps: 1``) or iterative (each step removes an equal geometric share, then distils
from the *unpruned* model for ``recover_epochs``). The pruned model is a normal model directory
(``prune/model``) that reloads, exports and quantizes like any other; ``report.md`` shows each
task before and after, the parameters removed and the latency measured side by side.
"""

from __future__ import annotations

import copy
import logging
import shutil
from pathlib import Path
from typing import Any

from compress.prune import (
    IMPORTANCES,
    drop_layers,
    prunable_parameters,
    prune_embeddings,
    prune_ffn,
    prune_heads,
    prune_vocabulary,
)
from compress.prune.importance import head_slices, layers_of
from compress.prune.plan import PruneConfig, plan_step, step_fraction
from compress.prune.sparsity import sparsify
from distill.config import DistillConfig, LogitsKD, TrainConfig
from distill.distillation import DistillationObjective
from distill.encoding import collate
from distill.io import write_json
from distill.model import MultiTaskModel
from distill.tokenization import load_tokenizer
from distill.training.evaluate import retention
from distill.training.loop import evaluate_all, train

from .distill_stage import latency_ratio
from .pipeline import Context, Stage, register_stage, settings_of
from .schema import Recipe
from .stages import data_fingerprint, encode_tasks, tasks_of

log = logging.getLogger("mtkd")
SOURCES = {"student": "distill", "teacher": "teacher"}  # what is pruned → the stage that made it


def scoring_batches(tasks, encoded, per_task: int, batch_size: int, pad_id: int) -> list:
    """The first ``per_task`` training batches of every task (deterministic, labels included)."""
    batches = []
    for name, task in tasks.items():
        split = encoded[name]["train"]
        tags = task.kind.label_kind == "tags"
        for start in range(0, min(len(split), per_task * batch_size), batch_size):
            idx = list(range(start, min(start + batch_size, len(split))))
            batches.append((name, collate(split, idx, pad_id, tags)))
    return batches


def shape_of(model: MultiTaskModel) -> list[dict[str, int]]:
    """Heads and FFN width of every layer, as the report shows them."""
    return [
        {"heads": head_slices(layer)[0], "ffn": layer.intermediate.dense.out_features} for layer in layers_of(model)
    ]


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
        lines.append(f"| {task} | {r['metric']} | {r['before']:.4f} | {r['after']:.4f} | {100 * r['retention']:.1f}% |")
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
        tokenizer = load_tokenizer(str(source))
        tasks, pad = tasks_of(ctx), tokenizer.pad_token_id
        encoded = encode_tasks(tokenizer, tasks, base.max_len)
        reference = MultiTaskModel.from_pretrained(source, map_location=ctx.device).eval()
        model = MultiTaskModel.from_pretrained(source)
        before = evaluate_all(reference, tasks, encoded, "test", base, ctx.device, pad)
        params = [model.num_parameters(encoder_only=True)]
        prunable = [prunable_parameters(model)]
        vocabulary = None
        if cfg.vocabulary:
            tokens_before = len(tokenizer)
            sequences = (ids for name in tasks for ids in encoded[name]["train"].input_ids)
            tokenizer, keep = prune_vocabulary(model, tokenizer, sequences, cfg.vocabulary)
            vocabulary = {
                "tokens_before": tokens_before,
                "tokens_after": len(keep),
                "min_count": cfg.vocabulary.min_count,
            }
            log.info("prune: vocabulary %d → %d tokens", tokens_before, len(keep))
            # recovery distils from the unpruned model: it must read the new token ids too
            reference = copy.deepcopy(reference)
            prune_embeddings(reference, keep)
            encoded = encode_tasks(tokenizer, tasks, base.max_len)
            pad = tokenizer.pad_token_id
        if cfg.layers:
            drop_layers(model, cfg.layers)
        score = IMPORTANCES.get(cfg.importance)()
        batches = scoring_batches(tasks, encoded, cfg.score_batches, base.batch_size, pad)
        for step in range(1, cfg.steps + 1):
            model = model.cpu()
            scores = score.score(model, batches)
            heads, keep = plan_step(
                scores,
                step_fraction(cfg.heads, cfg.steps),
                step_fraction(cfg.ffn, cfg.steps),
                cfg.scope,
                cfg.ffn_multiple,
            )
            prune_heads(model, heads)
            prune_ffn(model, keep)
            log.info("prune step %d/%d: layers (heads/ffn) %s", step, cfg.steps, shape_of(model))
            if cfg.recover_epochs:
                self._recover(ctx, model, reference, tasks, encoded, cfg, base, tokenizer, step)
        masks = sparsify(model.cpu(), cfg.sparsity, cfg.sparsity_level) if cfg.sparsity != "none" else None
        after = evaluate_all(model.to(ctx.device), tasks, encoded, "test", base, ctx.device, pad)  # scored on CPU
        params.append(model.num_parameters(encoder_only=True))
        prunable.append(prunable_parameters(model))
        model.cpu().save_pretrained(ctx.out / "model", tokenizer)
        latency = latency_ratio(reference, model, base.max_len, model.config.vocab_size)
        rows = {
            t: {
                "metric": m["metric"],
                "before": before[t]["value"],
                "after": m["value"],
                "retention": retention(m["value"], before[t]["value"], m["higher_is_better"]),
            }
            for t, m in after.items()
        }
        write_json(ctx.out / "metrics.json", after)
        summary = {
            "encoder_params": params,
            "prunable_params": prunable,
            "latency": latency,
            "layers": shape_of(model),
            "tasks": rows,
            **({"vocabulary": vocabulary} if vocabulary else {}),
        }
        text = report_markdown(rows, tuple(params), tuple(prunable), latency, shape_of(model), vocabulary)
        if masks:
            summary["masks"] = {**masks, "cpu_speedup": False}
            text += (
                f"\nMasks: {masks['pattern']} sparsity {masks['sparsity']:.1%} of the encoder's Linear weights, "
                "baked in as zeros for TensorRT's sparse-weights option: no CPU speedup (dense kernels multiply "
                "the zeros); the latency above is the structured pruning's.\n"
            )
        write_json(ctx.out / "report.json", summary)
        (ctx.out / "report.md").write_text(text)
        return {
            "param_ratio": params[1] / params[0],
            "prunable_removed": 1 - prunable[1] / prunable[0],
            "speedup_cpu_b1": latency["speedup"],
            "layers": shape_of(model),
        }

    @staticmethod
    def _recover(ctx, model, reference, tasks, encoded, cfg: PruneConfig, base: TrainConfig, tokenizer, step: int):
        """Logit distillation from the unpruned model: the pruned one relearns what the cut removed."""
        train_cfg = base.model_copy(update={"epochs": cfg.recover_epochs, "lr": cfg.recover_lr, "early_stopping": None})
        objective = DistillationObjective(reference, model, tasks, DistillConfig(logits=LogitsKD()))
        out = ctx.out / f"recover-{step}"
        train(
            model,
            tasks,
            encoded,
            train_cfg,
            out,
            tokenizer=tokenizer,
            seed=ctx.recipe.seed + step,
            device=ctx.device,
            resume=ctx.resume,
            objective=objective,
            name=f"prune recovery {step}/{cfg.steps}",
        )
        shutil.rmtree(Path(out), ignore_errors=True)
