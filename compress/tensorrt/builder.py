"""Build a TensorRT engine from an ONNX graph (the only module besides the runtime that imports it).

One code path for TensorRT 10 and 11. TensorRT 11 removed weak typing: no precision builder flags
(``BuilderFlag.FP16/INT8/FP8``), no ``INormalizationLayer.compute_precision``, every network strongly
typed, so an FP16 engine comes from an FP16 graph (``compress/onnx/fp16.py``) and INT8/FP8 from Q/DQ
graphs on both majors. What only TensorRT 10 has is reached through ``getattr`` where it exists.
Type-checked in CI against ``tensorrt-stubs`` 10.13 and against those stubs less what 11 removed
(no TensorRT library or GPU exists on the machines this project is developed on).
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tensorrt as trt

from distill.errors import ArtifactError

from .config import CompileConfig
from .manifest import ENGINE_FILE
from .profiles import ShapeProfile

log = logging.getLogger("mtkd")
QDQ_PRECISIONS = ("int8", "int8-qat", "fp8")  # explicit quantization: the graph's Q/DQ nodes decide
# TensorRT 10 can type layers itself (weak typing, precision flags); 11 only builds strongly typed networks
WEAK_TYPING = hasattr(trt.BuilderFlag, "FP16")


@dataclass(frozen=True)
class BuildRequest:
    """One engine: its graph, precision, shapes and builder settings."""

    onnx_path: Path
    precision: str
    profile: ShapeProfile
    settings: CompileConfig
    sparse_weights: bool = False  # the graph's weights are 2:4 sparse (prune stage's sparsity option)
    timing_cache: Path | None = None


@functools.cache
def trt_logger() -> trt.ILogger:
    """The one TensorRT logger of the process (builders, runtimes and parsers share it)."""
    return _Logger()


class _Logger(trt.ILogger):
    """TensorRT's messages into mtkd's log (warnings and errors; INFO is a page per layer)."""

    def __init__(self) -> None:
        trt.ILogger.__init__(self)

    def log(self, severity: trt.ILogger.Severity, msg: str) -> None:
        if severity in (trt.ILogger.Severity.INTERNAL_ERROR, trt.ILogger.Severity.ERROR):
            log.error("TensorRT: %s", msg)
        elif severity == trt.ILogger.Severity.WARNING:
            log.warning("TensorRT: %s", msg)


def strongly_typed(request: BuildRequest) -> bool:
    """Whether every tensor's type comes from the graph itself: always on TensorRT 11; on 10 for Q/DQ graphs
    when ``compile.strongly_typed`` asks."""
    if not WEAK_TYPING:
        return True
    return request.settings.strongly_typed and request.precision in QDQ_PRECISIONS


def _flag(name: str) -> trt.BuilderFlag:
    """A builder flag only TensorRT 10 has (the caller has checked ``WEAK_TYPING``)."""
    flag: trt.BuilderFlag = getattr(trt.BuilderFlag, name)
    return flag


def _parse(
    builder: trt.Builder, request: BuildRequest, logger: trt.ILogger
) -> tuple[trt.INetworkDefinition, trt.OnnxParser]:
    """The parsed network, and its parser: the parser owns the weights' memory, so the caller keeps it
    alive until the engine is built."""
    typed = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)  # 11: always, the flag ignored
    flags = 1 << int(typed) if typed is not None and WEAK_TYPING and strongly_typed(request) else 0
    network = builder.create_network(flags)  # explicit batch is the only mode since TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(request.onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ArtifactError(f"{request.onnx_path}: TensorRT's ONNX parser failed: {errors}")
    return network, parser


def keep_normalization_fp32(network: trt.INetworkDefinition) -> int:
    """State FP32 compute for every normalization layer; returns how many there are.

    FP16 LayerNorm over a wide row overflows and loses the small variances. TensorRT 10 computes
    ``INormalizationLayer`` in FP32 by default whatever the builder flags; setting it here keeps that
    true if the default changes. Inputs and outputs keep the types the builder picks: pinning them
    (``precision``, ``set_output_type``) would only add reformat layers around each LayerNorm.
    """
    pinned = 0
    if not hasattr(trt.INormalizationLayer, "compute_precision"):  # TensorRT 11: the FP16 graph keeps them FP32
        return pinned
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        if layer.type == trt.LayerType.NORMALIZATION:
            layer.__class__ = trt.INormalizationLayer  # the bindings hand out ILayer; this exposes its own fields
            assert isinstance(layer, trt.INormalizationLayer)
            setattr(layer, "compute_precision", trt.float32)  # noqa: B010 (a 10-only field)
            pinned += 1
    return pinned


def _configure(
    builder: trt.Builder, network: trt.INetworkDefinition, request: BuildRequest
) -> tuple[trt.IBuilderConfig, dict[str, Any]]:
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, request.settings.workspace_mb << 20)
    config.builder_optimization_level = request.settings.optimization_level
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED  # layer names and precisions in the inspector
    flags: list[str] = []
    pinned = 0
    if request.precision == "fp32":
        config.clear_flag(trt.BuilderFlag.TF32)  # TF32 is on by default (10 and 11); FP32 here means FP32
    if not strongly_typed(request):  # TensorRT 10, weakly typed: builder flags say which precisions layers may pick
        if request.precision != "fp32":
            config.set_flag(_flag("FP16"))  # non-quantized layers of Q/DQ engines may run FP16 too
            flags.append("FP16")
            pinned = keep_normalization_fp32(network)
        # with Q/DQ in the graph these flags mean explicit quantization (as Torch-TensorRT sets them);
        # TensorRT 10.12 deprecates weak typing and 11 removes it: strong typing is the lasting path
        if request.precision in ("int8", "int8-qat"):
            config.set_flag(_flag("INT8"))
            flags.append("INT8")
        if request.precision == "fp8":
            config.set_flag(_flag("FP8"))
            flags.append("FP8")
    if request.sparse_weights:
        config.set_flag(trt.BuilderFlag.SPARSE_WEIGHTS)
        flags.append("SPARSE_WEIGHTS")
    profile = builder.create_optimization_profile()
    shapes = request.profile
    for i in range(network.num_inputs):
        name = network.get_input(i).name
        profile.set_shape(name, trt.Dims(list(shapes.min)), trt.Dims(list(shapes.opt)), trt.Dims(list(shapes.max)))
    config.add_optimization_profile(profile)
    settings = {
        "flags": flags,
        "layernorm_fp32_layers": pinned,
        "strongly_typed": strongly_typed(request),
        "tensorrt": trt.__version__,
    }
    return config, settings


def build_engine(request: BuildRequest, out_dir: Path) -> dict[str, Any]:
    """Write ``out_dir/model.plan`` and return what the manifest records about the build."""
    logger = trt_logger()
    builder = trt.Builder(logger)
    network, parser = _parse(builder, request, logger)
    config, settings = _configure(builder, network, request)
    cache_path = request.timing_cache
    if cache_path is not None:
        blob = cache_path.read_bytes() if cache_path.is_file() else b""
        cache = config.create_timing_cache(blob)
        config.set_timing_cache(cache, ignore_mismatch=False)
    started = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    seconds = time.perf_counter() - started
    del parser  # the engine holds its own copy of the weights now
    if serialized is None:
        raise ArtifactError(f"{request.onnx_path}: TensorRT could not build a {request.precision} engine (log above)")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / ENGINE_FILE).write_bytes(bytes(serialized))
    if cache_path is not None:  # the next build (another precision, a rerun) skips timing known tactics
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        cache_path.write_bytes(bytes(config.get_timing_cache().serialize()))
    (out_dir / "layers.json").write_text(engine_layers(bytes(serialized), logger))
    return {
        **settings,
        "build_seconds": round(seconds, 2),
        "optimization_level": request.settings.optimization_level,
        "workspace_mb": request.settings.workspace_mb,
        "timing_cache": str(cache_path) if cache_path else None,
    }


def engine_layers(plan: bytes, logger: trt.ILogger) -> str:
    """The engine inspector's JSON: each fused layer with its tactic and input/output precisions,
    so a user can see which layers really run in INT8/FP8 and which TensorRT left in FP16/FP32."""
    engine = trt.Runtime(logger).deserialize_cuda_engine(plan)
    inspector = engine.create_engine_inspector()
    return inspector.get_engine_information(trt.LayerInformationFormat.JSON)
