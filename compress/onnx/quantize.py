"""Export and quantize a trained multi-task model, from Python — what the pipeline's ``quantize``
stage calls.

    from compress.onnx.quantize import quantize
    from compress.onnx.config import QuantizeConfig

    rows = quantize("runs/api/student/model", "runs/api/onnx", tasks,
                    QuantizeConfig(presets=["dynamic-int8", "static-int8"]), name="student", max_len=64)
    # runs/api/onnx/student-fp32, student-dynamic-int8, student-static-int8: each a model.onnx with its
    # tokenizer, mtkd.json and onnx.json, scored per task through ONNX Runtime on the test split

``presets`` names registered presets (``PRESETS``), or maps artifact names to typed configs —
``{"int8-matmul": DynamicInt8(op_types=["MatMul"])}``; presets that need calibration data get it
from the training split, and with ``accuracy_aware`` the most
sensitive layers go back to FP32 until every task is within ``tolerance`` of the FP32 export.
"""

from __future__ import annotations

import functools
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from compress.runtime import OnnxRuntimeBackend
from compress.runtime.accuracy import backend_accuracy
from distill.data.examples import TaskData
from distill.io import read_json, write_json
from distill.retention import drop

from .calibration import Calibration, calibration_batches
from .config import PresetChoice, QuantizeConfig, preset_configs
from .export import MANIFEST, copy_sidecars, export_onnx
from .fusion import UNFUSED, fuse
from .notices import summarised_quantizer_notices
from .presets import Preset, PresetConfig
from .qat import qat_artifact
from .sensitivity import accuracy_aware

log = logging.getLogger("mtkd")
Metrics = dict[str, dict[str, Any]]


def export_fp32(name: str, model_dir: Path, out: Path, cfg: QuantizeConfig) -> Path:
    """``<out>/<name>-fp32``: the exported (and fused) graph every preset starts from."""
    fp32 = Path(out) / f"{name}-fp32"
    export_onnx(model_dir, fp32, cfg.parity_tolerance)
    if cfg.optimize:  # the unfused graph stays for Q/DQ presets and TensorRT (standard ONNX operators only)
        shutil.copy2(fp32 / "model.onnx", fp32 / UNFUSED)
        fuse(fp32, cfg.parity_tolerance, cfg.skip_layer_norm)
    return fp32


def bound_preset(config: PresetConfig, calibration: Calibration | None) -> tuple[Preset, str]:
    """The preset with its calibration bound, and the graph file it starts from."""
    bound = functools.partial(config, calibration=calibration) if config.needs_calibration else config
    return bound, UNFUSED if config.graph == "unfused" else "model.onnx"


def apply_preset(
    label: str, config: PresetConfig, fp32: Path, target: Path, calibration: Calibration | None = None
) -> dict[str, Any]:
    """The preset applied to the whole graph, with the sidecars and a manifest saying what it is."""
    target.mkdir(parents=True, exist_ok=True)
    fn, graph = bound_preset(config, calibration)
    source = fp32 / graph if (fp32 / graph).is_file() else fp32 / "model.onnx"
    settings = fn(source, target / "model.onnx")
    copy_sidecars(fp32, target)
    manifest = {
        **read_json(fp32 / MANIFEST),
        "precision": settings["precision"],
        "preset": label,
        "quantization": settings,
        "source": str(fp32),
        "source_graph": source.name,  # model.onnx (fused) or model.unfused.onnx
    }
    write_json(target / MANIFEST, manifest)
    return manifest


def onnx_accuracy(tasks: dict[str, TaskData], max_len: int) -> Callable[[Path], Metrics]:
    """Every task's test metrics of an exported artifact, through ONNX Runtime at its own precision."""

    def accuracy(art: Path) -> Metrics:
        return backend_accuracy(OnnxRuntimeBackend(art, read_json(art / MANIFEST)["precision"]), tasks, max_len)

    return accuracy


def artifact_row(art: Path, metrics: Metrics, drops: dict[str, float], tolerance: float, fp32_layers=()) -> dict:
    """One report row: precision, size, per-task metrics and drops against the FP32 export."""
    return {
        "precision": read_json(art / MANIFEST)["precision"],
        "size_mb": (art / "model.onnx").stat().st_size / 1e6,
        "tasks": {t: m["value"] for t, m in metrics.items()},
        "drop_vs_fp32": drops,
        "within_tolerance": max(drops.values()) <= tolerance,
        "fp32_layers": list(fp32_layers),
    }


def quantize(
    model_dir: str | Path,
    out: str | Path,
    tasks: dict[str, TaskData],
    cfg: QuantizeConfig,
    *,
    name: str = "model",
    max_len: int = 128,
    presets: list[str | PresetChoice] | dict[str, PresetConfig] | None = None,
    qat: bool = True,
) -> dict[str, dict[str, Any]]:
    """``<out>/<name>-fp32`` and one ``<out>/<name>-<preset>`` per preset (default ``cfg.presets``: names,
    choices with settings, or a mapping of artifact name → typed config), plus
    ``<name>-qat-int8`` when ``cfg.qat`` and ``qat``; each scored per task through ONNX Runtime. Returns a
    row per artifact (precision, size, metrics, drop against the FP32 export, layers kept in FP32)."""
    with summarised_quantizer_notices(name):  # ONNX Runtime logs a line per unquantized tensor: one count instead
        return _quantize(Path(model_dir), Path(out), tasks, cfg, name, max_len, presets, qat)


def _quantize(model_dir, out, tasks, cfg, name, max_len, presets, qat) -> dict[str, dict[str, Any]]:
    presets = cfg.presets if presets is None else presets
    configs = presets if isinstance(presets, dict) else preset_configs(presets)
    accuracy = onnx_accuracy(tasks, max_len)
    fp32 = export_fp32(name, model_dir, out, cfg)
    reference = accuracy(fp32)

    def drops_of(metrics: Metrics) -> dict[str, float]:
        return {t: drop(m, reference[t]["value"]) for t, m in metrics.items()}

    write_json(fp32 / "metrics.json", reference)
    rows = {fp32.name: artifact_row(fp32, reference, dict.fromkeys(reference, 0.0), cfg.tolerance)}
    calibration = None
    if any(c.needs_calibration for c in configs.values()):
        calibration = calibration_batches(fp32, tasks, cfg.calibration, max_len)
    for label, config in configs.items():
        target, preset = out / f"{name}-{label}", (label, config)
        if config.peer:
            rows[target.name] = peer_row(preset, fp32, target, calibration, accuracy, drops_of, cfg.tolerance)
        else:
            rows[target.name] = preset_row(preset, fp32, target, calibration, accuracy, drops_of, cfg)
    if qat and cfg.qat and cfg.qat.steps:
        target = out / f"{name}-qat-int8"
        qat_artifact(model_dir, target, tasks, cfg.qat, max_len)
        metrics = accuracy(target)
        write_json(target / "metrics.json", metrics)
        rows[target.name] = artifact_row(target, metrics, drops_of(metrics), cfg.tolerance)
    return rows


def preset_row(
    preset: tuple[str, PresetConfig], fp32: Path, target: Path, calibration, accuracy, drops_of, cfg: QuantizeConfig
) -> dict:
    """One of our presets: applied, layers returned to FP32 until within tolerance, scored."""
    manifest = apply_preset(*preset, fp32, target, calibration)
    fallback: dict[str, Any] = {}
    if cfg.accuracy_aware:
        fn, _ = bound_preset(preset[1], calibration)
        source = fp32 / manifest["source_graph"]
        fallback = accuracy_aware(fn, source, target, lambda art: drops_of(accuracy(art)), cfg.tolerance)
        manifest = read_json(target / MANIFEST)
        write_json(target / MANIFEST, {**manifest, "fp32_fallback": fallback})
    metrics = accuracy(target)
    write_json(target / "metrics.json", metrics)
    row = artifact_row(target, metrics, drops_of(metrics), cfg.tolerance, fallback.get("fallback", []))
    log.info(
        "quantize %s: worst drop vs FP32 %.2f%%, FP32 fallback %s",
        target.name,
        100 * max(row["drop_vs_fp32"].values()),
        row["fp32_layers"],
    )
    return row


def peer_row(
    preset: tuple[str, PresetConfig], fp32: Path, target: Path, calibration, accuracy, drops_of, tolerance: float
) -> dict:
    """Another tool's path, run as its users would: measured when it works, its error kept when not."""
    try:
        apply_preset(*preset, fp32, target, calibration)
    except Exception as e:  # a peer failing on this model is a finding for the report, not our crash
        shutil.rmtree(target, ignore_errors=True)
        log.warning("quantize %s (peer) failed: %s: %s", target.name, type(e).__name__, str(e)[:300])
        return {"peer": True, "failed": f"{type(e).__name__}: {str(e)[:500]}"}
    metrics = accuracy(target)
    write_json(target / "metrics.json", metrics)
    return {**artifact_row(target, metrics, drops_of(metrics), tolerance), "peer": True}
