"""Quantization presets, registered by name: a new preset is one function.

Each preset turns an FP32 ``model.onnx`` into another ``model.onnx`` and returns its settings;
``exclude`` names nodes to leave in FP32 (accuracy-aware fallback); ``calibration`` carries real
inputs for static presets. ``@needs`` marks what a preset requires: calibration data, or the
unfused graph (TensorRT parses standard ONNX operators only, not ONNX Runtime's fused ones).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import onnx

from distill.errors import ArtifactError
from distill.registry import Registry

from .calibration import Calibration

Preset = Callable[..., dict[str, Any]]  # (src, dst, exclude=(), calibration=None) -> settings
PRESETS: Registry[Preset] = Registry("quantization preset")
LINEAR_OPS = ["MatMul", "Gemm"]  # attention and FFN projections: where the FLOPs are
# dynamic presets also turn the fused Attention into QAttention (int8 Q/K/V projection): faster than
# FP32 attention at batch 1 on both packaged students (64 and 128 wide) in a side-by-side timing
DYNAMIC_OPS = [*LINEAR_OPS, "Attention"]


def needs(calibration: bool = False, graph: str = "fused", peer: bool = False) -> Callable[[Preset], Preset]:
    """Mark a preset as needing calibration data and/or a graph (``fused`` or ``unfused``); a ``peer``
    is another tool's standard path, run as its users run it (no FP32 fallback, failures reported)."""

    def mark(preset: Preset) -> Preset:
        preset.needs_calibration = calibration  # type: ignore[attr-defined]
        preset.graph = graph  # type: ignore[attr-defined]
        preset.peer = peer  # type: ignore[attr-defined]
        return preset

    return mark


def preset_needs(preset: Preset) -> tuple[bool, str]:
    """(needs calibration, graph) of a registered preset."""
    return getattr(preset, "needs_calibration", False), getattr(preset, "graph", "fused")


def is_peer(preset: Preset) -> bool:
    return getattr(preset, "peer", False)


def _dynamic(src: Path, dst: Path, per_channel: bool, exclude: Sequence[str] = ()) -> dict[str, Any]:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # fused graphs hold contrib ops that ONNX shape inference cannot type: say the default is float
    quantize_dynamic(
        str(src),
        str(dst),
        op_types_to_quantize=DYNAMIC_OPS,
        per_channel=per_channel,
        weight_type=QuantType.QInt8,
        nodes_to_exclude=list(exclude),
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    return {
        "mode": "dynamic",
        "weights": "int8 symmetric",
        "activations": "uint8, scale computed per call",
        "per_channel": per_channel,
        "op_types": DYNAMIC_OPS,
        "precision": "int8",
    }


@PRESETS.register("dynamic-int8")
def dynamic_int8(src: Path, dst: Path, exclude: Sequence[str] = (), calibration: Calibration | None = None) -> dict:
    """ONNX Runtime dynamic INT8: weights quantized offline per tensor, activations at run time."""
    return _dynamic(src, dst, per_channel=False, exclude=exclude)


@PRESETS.register("dynamic-int8-per-channel")
def dynamic_int8_per_channel(
    src: Path, dst: Path, exclude: Sequence[str] = (), calibration: Calibration | None = None
) -> dict[str, Any]:
    """Dynamic INT8 with one weight scale per output channel (usually more accurate, same speed)."""
    return _dynamic(src, dst, per_channel=True, exclude=exclude)


def shape_inferred(src: Path, dst: Path) -> Path:
    """``src`` with every tensor typed, which static quantization needs to calibrate (and scale the
    biases of) each MatMul/Gemm input. Symbolic inference knows the fused contrib ops; the unfused
    graph's reshapes defeat it, and plain ONNX inference covers those standard ops instead."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src, dst = Path(src).resolve(), Path(dst).resolve()
    # a failed symbolic pass leaves a <uuid>.data file in the working directory: work in dst's folder
    with contextlib.chdir(dst.parent):
        try:
            quant_pre_process(str(src), str(dst), skip_optimization=True)
        except Exception:  # "Incomplete symbolic shape inference": ONNX's own inference suffices here
            quant_pre_process(str(src), str(dst), skip_optimization=True, skip_symbolic_shape=True)
    return dst


def _static(
    src: Path, dst: Path, exclude: Sequence[str], calibration: Calibration | None, symmetric_activations: bool
) -> dict[str, Any]:
    from onnxruntime.quantization import QuantType

    if calibration is None or not calibration.feeds:
        raise ArtifactError(f"static INT8 of {src} needs calibration batches (quantize.calibration in the recipe)")
    activations = QuantType.QInt8 if symmetric_activations else QuantType.QUInt8
    options = {
        "ActivationSymmetric": symmetric_activations,
        "WeightSymmetric": True,
        # TensorRT adds biases in float after the INT8 GEMM; int32 bias Q/DQ is an ORT-CPU form
        "QuantizeBias": not symmetric_activations,
        **calibration.ort_options(),
    }
    with tempfile.TemporaryDirectory() as scratch:
        typed = shape_inferred(src, Path(scratch) / "typed.onnx")
        types = (activations, QuantType.QInt8)
        _static_quantize(typed, dst, exclude, calibration, types, calibration.ort_method(), options)
    return {
        "mode": "static",
        "format": "QDQ",
        "weights": "int8 symmetric, per channel",
        "activations": "int8 symmetric" if symmetric_activations else "uint8 asymmetric",
        "biases": "float" if symmetric_activations else "int32",
        "calibration": {"method": calibration.method, **calibration.settings},
        "op_types": LINEAR_OPS,
        "precision": "int8",
    }


def _static_quantize(
    src: Path, dst: Path, exclude: Sequence[str], calibration: Calibration, types, method, options: dict[str, Any]
) -> None:
    """ONNX Runtime's static Q/DQ quantization of the MatMul/Gemm projections, weights per channel;
    ``types`` is (activation type, weight type)."""
    from onnxruntime.quantization import QuantFormat, quantize_static

    inputs = {i.name for i in onnx.load(str(src), load_external_data=False).graph.input}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. the opset upgrade that float 8 needs is announced, and intended
        quantize_static(
            str(src),
            str(dst),
            calibration.reader(inputs),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=LINEAR_OPS,
            per_channel=True,
            activation_type=types[0],
            weight_type=types[1],
            nodes_to_exclude=list(exclude),
            calibrate_method=method,
            extra_options=options,
        )


@PRESETS.register("static-int8")
@needs(calibration=True)
def static_int8(src: Path, dst: Path, exclude: Sequence[str] = (), calibration: Calibration | None = None) -> dict:
    """Static INT8 Q/DQ for ONNX Runtime's CPU provider: activation ranges fixed from calibration
    batches (uint8 asymmetric), weights int8 per channel; on the fused graph."""
    return _static(src, dst, exclude, calibration, symmetric_activations=False)


@PRESETS.register("qdq-int8-tensorrt")
@needs(calibration=True, graph="unfused")
def qdq_int8_tensorrt(
    src: Path, dst: Path, exclude: Sequence[str] = (), calibration: Calibration | None = None
) -> dict:
    """Q/DQ by TensorRT's rules: symmetric int8 activations and per-channel symmetric int8 weights,
    on the unfused graph of standard operators (TensorRT does its own fusions)."""
    return _static(src, dst, exclude, calibration, symmetric_activations=True)


@PRESETS.register("qdq-fp8-tensorrt")
@needs(calibration=True, graph="unfused")
def qdq_fp8_tensorrt(
    src: Path, dst: Path, exclude: Sequence[str] = (), calibration: Calibration | None = None
) -> dict[str, Any]:
    """FP8 (E4M3) Q/DQ for TensorRT on Hopper/Ada GPUs: weights per channel, activations per tensor, on
    the unfused graph (opset 19, which FP8 Q/DQ needs). Activation scales are amax/448 over the
    calibration batches (TensorRT Model Optimizer's default): ONNX Runtime's only float-8 calibration
    ("distribution", from the standard deviation) clipped outliers and cost the quickstart's
    regression head 23% RMSE, amax 1.3%. ONNX Runtime's CPU provider runs the graph with reference
    Q/DQ kernels, so accuracy is measured here even though FP8 speed needs a GPU."""
    from onnxruntime.quantization import CalibrationMethod, QuantType

    if calibration is None or not calibration.feeds:
        raise ArtifactError(f"FP8 Q/DQ of {src} needs calibration batches (quantize.calibration in the recipe)")
    with tempfile.TemporaryDirectory() as scratch:
        typed = shape_inferred(src, Path(scratch) / "typed.onnx")
        types = (QuantType.QFLOAT8E4M3FN, QuantType.QFLOAT8E4M3FN)
        # the Q/DQ structure from ONNX Runtime (whose only float-8 calibration is "distribution"), then amax scales
        _static_quantize(
            typed, dst, exclude, calibration, types, CalibrationMethod.Distribution, {"QuantizeBias": False}
        )
        _fp8_amax_scales(typed, dst, calibration, Path(scratch))
    return {
        "mode": "static",
        "format": "QDQ",
        "weights": "float8 e4m3fn, per channel",
        "activations": "float8 e4m3fn, per tensor",
        "biases": "float",
        "calibration": {"method": "amax", "samples": calibration.settings.get("samples")},
        "op_types": LINEAR_OPS,
        "opset": 19,
        "precision": "fp8",
    }


FP8_E4M3_MAX = 448.0


def _fp8_amax_scales(typed: Path, dst: Path, calibration: Calibration, scratch: Path) -> None:
    """Set every activation QuantizeLinear's scale in ``dst`` to amax/448 of its input over the
    calibration batches (its DequantizeLinear shares the scale initializer)."""
    import numpy as np
    from onnx import numpy_helper
    from onnxruntime.quantization.calibrate import CalibrationMethod, create_calibrator

    inputs = {i.name for i in onnx.load(str(typed), load_external_data=False).graph.input}
    calibrator = create_calibrator(
        str(typed),
        LINEAR_OPS,
        augmented_model_path=str(scratch / "augmented.onnx"),
        calibrate_method=CalibrationMethod.MinMax,
    )
    calibrator.collect_data(calibration.reader(inputs))
    ranges = calibrator.compute_data().data
    model = onnx.load(str(dst))
    scales = {t.name: t for t in model.graph.initializer}
    for node in (n for n in model.graph.node if n.op_type == "QuantizeLinear"):
        # a quantized graph output is renamed "<output>_QuantizeLinear_Input" by the quantizer
        tensor = node.input[0].removesuffix("_QuantizeLinear_Input")
        if tensor in ranges and node.input[1] in scales:
            low, high = ranges[tensor].range_value
            amax = max(float(np.abs(low).max()), float(np.abs(high).max()), 1e-8)
            old = numpy_helper.to_array(scales[node.input[1]])
            scale = np.full(old.shape, amax / FP8_E4M3_MAX, dtype=old.dtype)
            scales[node.input[1]].CopyFrom(numpy_helper.from_array(scale, node.input[1]))
    onnx.save(model, str(dst))


def _optimum_dynamic(src: Path, dst: Path, optimization: str | None) -> dict[str, Any]:
    """Optimum's ``ORTQuantizer`` with ``AutoQuantizationConfig.avx512_vnni`` dynamic INT8, after
    ``ORTOptimizer`` at ``optimization`` (``O1``..``O4``) or straight on the export (``None``)."""
    from optimum.onnxruntime import ORTOptimizer, ORTQuantizer
    from optimum.onnxruntime.configuration import AutoOptimizationConfig, AutoQuantizationConfig

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        shutil.copy2(src, work / "model.onnx")
        shutil.copy2(src.parent / "config.json", work / "config.json")  # Optimum picks BERT fusions from it
        source, name = work, "model.onnx"
        if optimization:
            optimizer = ORTOptimizer.from_pretrained(work, file_names=["model.onnx"])
            config = getattr(AutoOptimizationConfig, optimization)()
            optimizer.optimize(save_dir=work / "optimized", optimization_config=config)
            source, name = work / "optimized", "model_optimized.onnx"
        quantizer = ORTQuantizer.from_pretrained(source, file_name=name)
        config = AutoQuantizationConfig.avx512_vnni(is_static=False, per_channel=False)
        quantizer.quantize(save_dir=work / "q", quantization_config=config)
        shutil.copy2(work / "q" / f"{Path(name).stem}_quantized.onnx", dst)
    steps = f"ORTOptimizer {optimization} + " if optimization else ""
    return {"mode": "dynamic", "peer": f"Optimum: {steps}AutoQuantizationConfig.avx512_vnni", "precision": "int8"}


@PRESETS.register("optimum-o2-dynamic-int8")
@needs(graph="unfused", peer=True)
def optimum_o2_dynamic_int8(
    src: Path, dst: Path, exclude: Sequence[str] = (), calibration: Calibration | None = None
) -> dict[str, Any]:
    """Peer: Optimum's own standard path, ``ORTOptimizer`` O2 then ``ORTQuantizer`` with
    ``AutoQuantizationConfig.avx512_vnni`` dynamic INT8, from the unfused export."""
    return _optimum_dynamic(src, dst, "O2")


@PRESETS.register("optimum-dynamic-int8")
@needs(graph="unfused", peer=True)
def optimum_dynamic_int8(
    src: Path, dst: Path, exclude: Sequence[str] = (), calibration: Calibration | None = None
) -> dict[str, Any]:
    """Peer: Optimum's quantizer straight on the export, as ``optimum-cli onnxruntime quantize
    --avx512_vnni`` does (the path left when O2's fused graph cannot be quantized)."""
    return _optimum_dynamic(src, dst, None)


# LayerNorm and softmax overflow or lose precision in FP16 (users' recurring complaint): keep them FP32
FP32_OPS = [
    "LayerNormalization",
    "SkipLayerNormalization",
    "EmbedLayerNormalization",
    "Softmax",
    "ReduceMean",
    "Pow",
    "Sqrt",
    "Erf",
]


@PRESETS.register("fp16")
def fp16(src: Path, dst: Path, exclude: Sequence[str] = (), calibration: Calibration | None = None) -> dict[str, Any]:
    """FP16 weights and activations with LayerNorm, softmax and their reductions kept in FP32.

    Inputs and outputs stay as they were (int64 ids in, float32 logits out), so callers do not
    change. Meant for GPUs; ONNX Runtime's CPU provider runs many FP16 operators slowly.
    """
    from onnxruntime.transformers.onnx_model import OnnxModel

    # the wrapper types fused com.microsoft ops with symbolic shape inference and re-sorts the graph
    wrapper = OnnxModel(onnx.load(str(src)))
    wrapper.convert_float_to_float16(keep_io_types=True, op_block_list=FP32_OPS, node_block_list=list(exclude))
    _drop_repeated_casts(wrapper.model)
    wrapper.topological_sort()
    onnx.checker.check_model(wrapper.model)
    onnx.save(wrapper.model, str(dst))
    return {"mode": "fp16", "kept_fp32": FP32_OPS, "precision": "fp16"}


def _drop_repeated_casts(model: onnx.ModelProto) -> None:
    """The converter casts a tensor once per blocked consumer, all to one output name (not SSA);
    an exact repeat of a Cast (same input, type and output) computes nothing new."""
    seen: set[tuple] = set()
    keep = []
    for node in model.graph.node:
        if node.op_type == "Cast":
            key = (tuple(node.input), tuple(node.output), tuple(a.i for a in node.attribute if a.name == "to"))
            if key in seen:
                continue
            seen.add(key)
        keep.append(node)
    del model.graph.node[:]
    model.graph.node.extend(keep)
