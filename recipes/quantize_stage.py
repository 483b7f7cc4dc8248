"""The ``quantize`` stage: ONNX export, graph fusions, quantization presets, accuracy through ORT."""

from __future__ import annotations

import functools
import logging
import shutil
from pathlib import Path
from typing import Any

from benchmarks.harness import backend_accuracy
from compress.onnx.calibration import Calibration, calibration_batches
from compress.onnx.config import QuantizeConfig
from compress.onnx.export import MANIFEST, copy_sidecars, export_onnx
from compress.onnx.fusion import UNFUSED, fuse
from compress.onnx.notices import summarised_quantizer_notices
from compress.onnx.presets import PRESETS, Preset, is_peer, preset_needs
from compress.onnx.qat import qat_artifact
from compress.onnx.sensitivity import accuracy_aware
from compress.runtime import OnnxRuntimeBackend
from distill.io import read_json, write_json
from distill.training.evaluate import retention

from .pipeline import Context, Stage, register_stage, settings_of
from .schema import Recipe
from .stages import data_fingerprint, tasks_of

log = logging.getLogger("mtkd")
MODEL_DIRS = {"teacher": "teacher", "student": "distill", "pruned": "prune"}  # artifact → the stage that made it


def chosen(recipe: Recipe) -> list[str]:
    default = ["pruned"] if recipe.prune else ["student"] if recipe.student else ["teacher"]
    return recipe.quantize.artifacts or default


def export_fp32(name: str, model_dir: Path, out: Path, cfg: QuantizeConfig) -> Path:
    """``<name>-fp32``: the exported (and fused) graph every preset starts from."""
    fp32 = out / f"{name}-fp32"
    export_onnx(model_dir, fp32, cfg.parity_tolerance)
    if cfg.optimize:  # the unfused graph stays for Q/DQ presets and TensorRT (standard ONNX operators only)
        shutil.copy2(fp32 / "model.onnx", fp32 / UNFUSED)
        fuse(fp32, cfg.parity_tolerance, cfg.skip_layer_norm)
    return fp32


def bound_preset(name: str, calibration: Calibration | None) -> tuple[Preset, str]:
    """The preset with its calibration bound, and the graph file it starts from."""
    preset = PRESETS.get(name)
    wants_calibration, graph = preset_needs(preset)
    bound = functools.partial(preset, calibration=calibration) if wants_calibration else preset
    return bound, UNFUSED if graph == "unfused" else "model.onnx"


def apply_preset(preset: str, fp32: Path, target: Path, calibration: Calibration | None = None) -> dict[str, Any]:
    """The preset applied to the whole graph, with the sidecars and a manifest saying what it is."""
    target.mkdir(parents=True, exist_ok=True)
    fn, graph = bound_preset(preset, calibration)
    source = fp32 / graph if (fp32 / graph).is_file() else fp32 / "model.onnx"
    settings = fn(source, target / "model.onnx")
    copy_sidecars(fp32, target)
    manifest = {
        **read_json(fp32 / MANIFEST),
        "precision": settings["precision"],
        "preset": preset,
        "quantization": settings,
        "source": str(fp32),
        "source_graph": source.name,  # model.onnx (fused) or model.unfused.onnx
    }
    write_json(target / MANIFEST, manifest)
    return manifest


@register_stage("quantize")
class QuantizeStage(Stage):
    """Exported and quantized artifacts, each evaluated per task through ONNX Runtime."""

    version = 7  # 2: FP32 fallback; 3: static INT8, QAT, peers; 4: FP8 output scales; 5: QAT heads in FP32;
    # 6: residual Add + LayerNorm left unfused (SkipLayerNormalization is slower on CPU);
    # 7: dynamic presets quantize fused Attention (QAttention)

    def needs_for(self, recipe: Recipe) -> tuple[str, ...]:
        if recipe.quantize is None:
            return ()
        teacher = ("teacher",) if recipe.quantize.teacher_presets else ()
        return tuple(dict.fromkeys([*(MODEL_DIRS[a] for a in chosen(recipe)), *teacher]))

    def skip_reason(self, recipe: Recipe) -> str | None:
        if recipe.quantize is None:
            return "the recipe has no quantize section"
        if "student" in chosen(recipe) and recipe.student is None:
            return "quantize.artifacts names the student, but the recipe has no student"
        if "pruned" in chosen(recipe) and recipe.prune is None:
            return "quantize.artifacts names the pruned model, but the recipe has no prune section"
        return None

    def settings(self, recipe: Recipe) -> dict[str, Any]:
        return {
            "quantize": settings_of(recipe.quantize),
            "max_len": recipe.teacher.train.max_len,
            "data": data_fingerprint(recipe),
        }

    def run(self, ctx: Context) -> dict[str, Any]:
        cfg, tasks = ctx.recipe.quantize, tasks_of(ctx)
        max_len = ctx.recipe.teacher.train.max_len
        rows: dict[str, dict[str, Any]] = {}
        for name in chosen(ctx.recipe):
            with summarised_quantizer_notices(name):
                rows.update(self._artifact(ctx, name, cfg.presets, tasks, max_len, qat=True))
        if cfg.teacher_presets and "teacher" not in chosen(ctx.recipe):
            # what a user who does not distil would deploy: the teacher itself, exported and quantized
            with summarised_quantizer_notices("teacher"):
                alternatives = self._artifact(ctx, "teacher", cfg.teacher_presets, tasks, max_len, qat=False)
            rows.update({n: {**r, "teacher_alternative": True} for n, r in alternatives.items()})
        write_json(ctx.out / "report.json", rows)
        return {"artifacts": rows}

    def _artifact(self, ctx: Context, name: str, presets: list[str], tasks, max_len: int, qat: bool) -> dict:
        """``<name>-fp32`` and one artifact per preset, each evaluated per task through ONNX Runtime."""
        cfg, rows = ctx.recipe.quantize, {}

        def accuracy(art: Path) -> dict[str, dict[str, Any]]:
            return backend_accuracy(OnnxRuntimeBackend(art, read_json(art / MANIFEST)["precision"]), tasks, max_len)

        fp32 = export_fp32(name, ctx.input(MODEL_DIRS[name]) / "model", ctx.out, cfg)
        reference = accuracy(fp32)

        def drops_of(metrics: dict) -> dict[str, float]:
            return {
                t: 1 - retention(m["value"], reference[t]["value"], m["higher_is_better"]) for t, m in metrics.items()
            }

        def drops(art: Path) -> dict[str, float]:
            return drops_of(accuracy(art))

        write_json(fp32 / "metrics.json", reference)
        rows[fp32.name] = self._row(fp32, reference, {t: 0.0 for t in reference}, cfg.tolerance)
        calibration = None
        if any(preset_needs(PRESETS.get(p))[0] for p in presets):
            calibration = calibration_batches(fp32, tasks, cfg.calibration, max_len)
        for preset in presets:
            target = ctx.out / f"{name}-{preset}"
            if is_peer(PRESETS.get(preset)):
                rows[target.name] = self._peer(preset, fp32, target, calibration, accuracy, drops_of, cfg)
                continue
            manifest = apply_preset(preset, fp32, target, calibration)
            fallback = {}
            if cfg.accuracy_aware:
                fn, _ = bound_preset(preset, calibration)
                source = fp32 / manifest["source_graph"]
                fallback = accuracy_aware(fn, source, target, drops, cfg.tolerance)
                manifest = read_json(target / MANIFEST)
                write_json(target / MANIFEST, {**manifest, "fp32_fallback": fallback})
            metrics = accuracy(target)
            write_json(target / "metrics.json", metrics)
            rows[target.name] = self._row(
                target, metrics, drops_of(metrics), cfg.tolerance, fallback.get("fallback", [])
            )
            log.info(
                "quantize %s: worst drop vs FP32 %.2f%%, FP32 fallback %s",
                target.name,
                100 * max(rows[target.name]["drop_vs_fp32"].values()),
                rows[target.name]["fp32_layers"],
            )
        if qat and cfg.qat and cfg.qat.steps:
            target = ctx.out / f"{name}-qat-int8"
            qat_artifact(ctx.input(MODEL_DIRS[name]) / "model", target, tasks, cfg.qat, max_len)
            metrics = accuracy(target)
            write_json(target / "metrics.json", metrics)
            rows[target.name] = self._row(target, metrics, drops_of(metrics), cfg.tolerance)
        return rows

    def _peer(self, preset, fp32, target, calibration, accuracy, drops_of, cfg) -> dict[str, Any]:
        """Another tool's path, run as its users would: measured when it works, its error kept when not."""
        try:
            apply_preset(preset, fp32, target, calibration)
        except Exception as e:  # a peer failing on this model is a finding for the report, not our crash
            shutil.rmtree(target, ignore_errors=True)
            log.warning("quantize %s (peer) failed: %s: %s", target.name, type(e).__name__, str(e)[:300])
            return {"peer": True, "failed": f"{type(e).__name__}: {str(e)[:500]}"}
        metrics = accuracy(target)
        write_json(target / "metrics.json", metrics)
        return {**self._row(target, metrics, drops_of(metrics), cfg.tolerance), "peer": True}

    @staticmethod
    def _row(art: Path, metrics: dict, drops: dict[str, float], tolerance: float, fp32_layers=()) -> dict[str, Any]:
        return {
            "precision": read_json(art / MANIFEST)["precision"],
            "size_mb": (art / "model.onnx").stat().st_size / 1e6,
            "tasks": {t: m["value"] for t, m in metrics.items()},
            "drop_vs_fp32": drops,
            "within_tolerance": max(drops.values()) <= tolerance,
            "fp32_layers": list(fp32_layers),
        }
