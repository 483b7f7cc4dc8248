"""Build TensorRT engines from exported ONNX graphs, from Python — what the pipeline's ``compile``
stage calls.

    from compress.tensorrt.compile import compile_engines
    from compress.tensorrt import CompileConfig, profile_for

    rows = compile_engines("runs/api/onnx", "runs/api/engines", ["student"], CompileConfig(precisions=["fp16"]),
                           profile_for([1, 32], [128], max_len=128), tasks, max_len=128)

FP32 and FP16 engines are built from the unfused FP32 export (on TensorRT 11, which has no FP16 flag, from
its FP16 copy: ``compress/onnx/fp16.py``), INT8 and FP8 from the Q/DQ graphs of the TensorRT presets
(explicit quantization). One failing engine becomes its row's error; the others
still build. Each engine is scored per task through TensorRT on the test split.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from compress.bundle.triton import onnx_io
from compress.onnx.export import copy_sidecars
from compress.onnx.fusion import UNFUSED
from compress.prune.sparsity import SPARSITY
from compress.runtime.accuracy import backend_accuracy
from distill.data.examples import TaskData
from distill.errors import ArtifactError
from distill.io import read_json, write_json
from distill.retention import drop

from .config import ENGINE_PRECISIONS, CompileConfig, variant_unsupported
from .isolation import isolated
from .manifest import ENGINE_MANIFEST
from .profiles import ShapeProfile

log = logging.getLogger("mtkd")
ENGINE_FROM_FP32 = ("fp32", "fp16")  # built from the unfused FP32 export; the others from Q/DQ graphs


def weak_typing() -> bool:
    """Whether the running TensorRT still has precision builder flags (10) or only strong typing (11)."""
    from .builder import WEAK_TYPING

    return WEAK_TYPING


def fp16_source(fp32_dir: Path, dst: Path) -> Path:
    """The FP16 graph a strongly typed FP16 engine is built from, made once from the FP32 export."""
    from compress.onnx.fp16 import fp16_graph

    if not (dst / "model.onnx").is_file():
        fp16_graph(fp32_dir, dst)
    return dst / "model.onnx"


def source_graph(onnx_dir: Path, artifact: str, variant: str) -> Path:
    """The ONNX graph an engine variant is built from (which may not exist)."""
    source = Path(onnx_dir) / ENGINE_PRECISIONS[variant].format(name=artifact)
    return source / (UNFUSED if variant in ENGINE_FROM_FP32 else "model.onnx")


def engine_sources(artifacts: list[str], precisions: list[str], onnx_dir: Path) -> dict[str, tuple[str, Path]]:
    """``<artifact>-trt-<variant>`` → (variant, the ONNX graph it is built from); a missing graph is an
    error that names the preset which makes it."""
    out = {}
    for name in artifacts:
        for variant in precisions:
            graph = source_graph(onnx_dir, name, variant)
            if not graph.is_file():
                preset = ENGINE_PRECISIONS[variant].format(name="").lstrip("-")
                hint = "rerun it: it keeps the unfused export" if variant in ENGINE_FROM_FP32 else f"add {preset!r}"
                raise ArtifactError(
                    f"compile {name} {variant}: {graph} is missing; the quantize stage makes it ({hint}, "
                    "or drop the precision from compile.precisions)"
                )
            out[f"{name}-trt-{variant}"] = (variant, graph)
    return out


def compile_engines(
    onnx_dir: str | Path,
    out: str | Path,
    artifacts: list[str],
    cfg: CompileConfig,
    profile: ShapeProfile,
    tasks: dict[str, TaskData],
    *,
    max_len: int = 128,
    timing_cache: Path | None = None,
) -> dict[str, dict[str, Any]]:
    """``<out>/<artifact>-trt-<precision>`` for every artifact exported into ``onnx_dir`` and every precision
    of ``cfg`` this GPU supports, each with a manifest and test metrics; a row per engine (skipped and
    failed ones say why). Raises when no engine at all was built."""
    from .manifest import current_target

    onnx_dir, out, target = Path(onnx_dir), Path(out), current_target()
    rows: dict[str, dict[str, Any]] = {}
    for engine, (variant, graph) in engine_sources(artifacts, cfg.precisions, onnx_dir).items():
        reason = variant_unsupported(variant, target["compute_capability"])
        if reason:
            log.info("compile %s: skipped: %s", engine, reason)
            rows[engine] = {"variant": variant, "skipped": reason}
            continue
        log.info("compile %s from %s (%s)", engine, graph.parent.name, graph.name)

        def build(e=engine, v=variant, g=graph) -> dict[str, Any]:
            name = e.split("-trt-")[0]
            reference = onnx_dir / f"{name}-fp32" / "metrics.json"
            if v == "fp16" and not weak_typing():  # TensorRT 11: FP16 comes from an FP16 graph, not a flag
                g = fp16_source(g.parent, out / f"{name}-fp16-onnx")
            return _build_scored_engine(g, v, out / e, cfg, profile, tasks, max_len, timing_cache, reference)

        rows[engine] = isolated(engine, variant, out / engine, build)
    if not any("precision" in row for row in rows.values()):
        raise ArtifactError(f"compile: no engine was built: {rows}")
    return rows


def _build_scored_engine(
    graph: Path,
    variant: str,
    out: Path,
    cfg: CompileConfig,
    profile: ShapeProfile,
    tasks: dict[str, TaskData],
    max_len: int,
    timing_cache: Path | None,
    reference: Path,
) -> dict[str, Any]:
    """Build one engine from its graph, write its manifest, score it per task through TensorRT against the
    ONNX FP32 export's metrics (``reference``)."""
    from compress.runtime.tensorrt_backend import TensorRTBackend

    from .builder import BuildRequest, build_engine
    from .manifest import current_target

    source = graph.parent
    sparse = (read_json(source / "config.json").get(SPARSITY) or {}).get("pattern") == "2:4"
    build = build_engine(BuildRequest(graph, variant, profile, cfg, sparse, timing_cache), out)
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
    metrics = backend_accuracy(TensorRTBackend(out, precision, "cuda"), tasks, max_len)
    write_json(out / "metrics.json", metrics)
    fp32 = read_json(reference)
    drops = {t: drop(m, fp32[t]["value"]) for t, m in metrics.items()}
    log.info(
        "compile %s: built in %.0f s, worst drop vs ONNX FP32 %.2f%%",
        out.name,
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
