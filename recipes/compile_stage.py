"""The ``compile`` stage: TensorRT engines from the quantize stage's ONNX graphs, each checked per task.

Skipped, with the reason in one line, where TensorRT or a CUDA GPU is missing; the run goes on.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.config import BenchConfig
from benchmarks.harness import backend_accuracy
from compress.bundle.triton import onnx_io
from compress.onnx.export import copy_sidecars
from compress.onnx.fusion import UNFUSED
from compress.prune.sparsity import SPARSITY
from compress.tensorrt import ENGINE_MANIFEST, ENGINE_PRECISIONS, ShapeProfile, profile_for, tensorrt_unavailable
from compress.tensorrt.config import variant_unsupported
from compress.tensorrt.isolation import isolated
from distill.errors import ArtifactError
from distill.io import read_json, write_json
from distill.training.evaluate import retention

from .pipeline import Context, Stage, register_stage, settings_of
from .quantize_stage import chosen
from .schema import Recipe
from .stages import data_fingerprint, tasks_of

log = logging.getLogger("mtkd")
ENGINE_FROM_FP32 = ("fp32", "fp16")  # built from the unfused FP32 export; the others from Q/DQ graphs
TIMING_CACHES = "tensorrt-timing"  # beside the run directories: every run on this GPU shares the timings


def engine_profile(recipe: Recipe) -> ShapeProfile:
    """The one optimization profile: the bench grid, accuracy evaluation, ``compile.max_batch``."""
    bench = recipe.bench or BenchConfig()
    max_batch = recipe.compile.max_batch if recipe.compile else None
    return profile_for(bench.batch_sizes, bench.seq_lens, recipe.teacher.train.max_len, bench.report_shape, max_batch)


def source_graph(quantize_dir: Path, artifact: str, variant: str) -> Path:
    """The ONNX graph an engine variant is built from (which may not exist)."""
    source = quantize_dir / ENGINE_PRECISIONS[variant].format(name=artifact)
    return source / (UNFUSED if variant in ENGINE_FROM_FP32 else "model.onnx")


def engine_sources(recipe: Recipe, quantize_dir: Path) -> dict[str, tuple[str, Path]]:
    """``<artifact>-trt-<variant>`` → (variant, the ONNX graph it is built from)."""
    cfg = recipe.compile
    assert cfg is not None
    out = {}
    for name in cfg.artifacts or chosen(recipe):
        for variant in cfg.precisions:
            graph = source_graph(quantize_dir, name, variant)
            if not graph.is_file():
                preset = ENGINE_PRECISIONS[variant].format(name="").lstrip("-")
                hint = "rerun it: it keeps the unfused export" if variant in ENGINE_FROM_FP32 else f"add {preset!r}"
                raise ArtifactError(
                    f"compile {name} {variant}: {graph} is missing; the quantize stage makes it ({hint}, "
                    "or drop the precision from compile.precisions)"
                )
            out[f"{name}-trt-{variant}"] = (variant, graph)
    return out


def timing_cache_path(run_dir: Path, target: dict[str, Any]) -> Path:
    """One timing cache per GPU model and TensorRT version (timings do not carry across either)."""
    gpu = re.sub(r"[^A-Za-z0-9]+", "-", target["gpu"]).strip("-").lower()
    return run_dir.parent / TIMING_CACHES / f"{gpu}-sm{target['compute_capability']}-trt{target['tensorrt']}.cache"


@register_stage("compile")
class CompileStage(Stage):
    """TensorRT engines (FP32, FP16, explicit-Q/DQ INT8 and FP8), each with a manifest and test metrics."""

    def needs_for(self, recipe: Recipe) -> tuple[str, ...]:
        return ("quantize",) if recipe.compile else ()

    def skip_reason(self, recipe: Recipe) -> str | None:
        if recipe.compile is None:
            return "the recipe has no compile section"
        if recipe.quantize is None:
            return "compile builds from the quantize stage's ONNX graphs, and the recipe has no quantize section"
        return tensorrt_unavailable()

    def settings(self, recipe: Recipe) -> dict[str, Any]:
        assert recipe.compile is not None
        return {
            "compile": settings_of(recipe.compile),
            "profile": engine_profile(recipe).as_dict(),
            "data": data_fingerprint(recipe),
        }

    def run(self, ctx: Context) -> dict[str, Any]:
        from compress.tensorrt.manifest import current_target

        recipe, cfg = ctx.recipe, ctx.recipe.compile
        assert cfg is not None
        profile, target = engine_profile(recipe), current_target()
        cache = timing_cache_path(ctx.run_dir, target) if cfg.timing_cache else None
        rows: dict[str, dict[str, Any]] = {}
        for engine, (variant, graph) in engine_sources(recipe, ctx.input("quantize")).items():
            reason = variant_unsupported(variant, target["compute_capability"])
            if reason:
                log.info("compile %s: skipped: %s", engine, reason)
                rows[engine] = {"variant": variant, "skipped": reason}
                continue
            log.info("compile %s from %s (%s)", engine, graph.parent.name, graph.name)
            rows[engine] = isolated(
                engine,
                variant,
                ctx.out / engine,
                lambda e=engine, v=variant, g=graph: self._engine(ctx, e, v, g, cache),
            )
        if not any("precision" in row for row in rows.values()):
            raise ArtifactError(f"compile: no engine was built: {rows}")
        write_json(ctx.out / "report.json", rows)
        return {"target": target, "profile": profile.as_dict(), "engines": rows}

    @staticmethod
    def _engine(ctx: Context, engine: str, variant: str, graph: Path, cache: Path | None) -> dict[str, Any]:
        """Build one engine from its graph, write its manifest, score it per task through TensorRT."""
        from compress.runtime.tensorrt_backend import TensorRTBackend
        from compress.tensorrt.builder import BuildRequest, build_engine
        from compress.tensorrt.manifest import current_target

        recipe, cfg = ctx.recipe, ctx.recipe.compile
        source, out, profile = graph.parent, ctx.out / engine, engine_profile(recipe)
        sparse = (read_json(source / "config.json").get(SPARSITY) or {}).get("pattern") == "2:4"
        build = build_engine(BuildRequest(graph, variant, profile, cfg, sparse, cache), out)
        copy_sidecars(source, out)
        precision = "int8" if variant == "int8-qat" else variant
        write_json(
            out / ENGINE_MANIFEST,
            {
                "precision": precision,
                "variant": variant,
                "source": str(source),
                "source_graph": graph.name,
                "target": current_target(),
                "profile": profile.as_dict(),
                "io": onnx_io(graph),  # the engine keeps the graph's names and types (Triton export)
                "build": build,
                "built": datetime.now(UTC).isoformat(timespec="seconds"),
            },
        )
        metrics = backend_accuracy(TensorRTBackend(out, precision, "cuda"), tasks_of(ctx), recipe.teacher.train.max_len)
        write_json(out / "metrics.json", metrics)
        reference = read_json(ctx.input("quantize") / f"{engine.split('-trt-')[0]}-fp32" / "metrics.json")
        drops = {t: 1 - retention(m["value"], reference[t]["value"], m["higher_is_better"]) for t, m in metrics.items()}
        log.info(
            "compile %s: built in %.0f s, worst drop vs ONNX FP32 %.2f%%",
            engine,
            build["build_seconds"],
            100 * max(drops.values()),
        )
        return {
            "precision": precision,
            "variant": variant,
            "build_seconds": build["build_seconds"],
            "size_mb": (out / "model.plan").stat().st_size / 1e6,
            "tasks": {t: m["value"] for t, m in metrics.items()},
            "drop_vs_onnx_fp32": drops,
        }
