"""Quantization presets: typed configs with registered handlers (torchao's ``quantize_(model, config)`` shape).

A preset is a ``PresetConfig`` — its settings, typed, so a recipe can change them and have them
checked — and a handler that turns an FP32 ``model.onnx`` into another ``model.onnx`` and returns
the settings it applied. ``PRESETS`` names ready-made configs; a new preset is a config class,
a handler and a name::

    class MatMulInt8(PresetConfig):
        per_channel: bool = False

    @preset_handler(MatMulInt8)
    def _matmul_int8(cfg, src, dst, exclude, calibration): ...

    PRESETS.register("matmul-int8")(MatMulInt8())

``exclude`` names nodes to leave in FP32 (accuracy-aware fallback); ``calibration`` carries real
inputs for presets whose config says ``needs_calibration``. ``graph`` says which export a preset
starts from: the fused one, or the unfused one (TensorRT parses standard ONNX operators only);
a ``peer`` is another tool's standard path, run as its users run it (no FP32 fallback, failures
reported rather than raised).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import onnx
from pydantic import Field

from distill.config import StrictModel
from distill.errors import ArtifactError, MtkdError
from distill.registry import Registry

from .calibration import Calibration

LINEAR_OPS = ["MatMul", "Gemm"]  # attention and FFN projections: where the FLOPs are
# dynamic presets also turn the fused Attention into QAttention (int8 Q/K/V projection): faster than
# FP32 attention at batch 1 on both packaged students (64 and 128 wide) in a side-by-side timing
DYNAMIC_OPS = [*LINEAR_OPS, "Attention"]


class PresetConfig(StrictModel):
    """A preset's typed settings; calling it applies its handler: ``cfg(src, dst, exclude, calibration)``."""

    needs_calibration: ClassVar[bool] = False
    graph: ClassVar[Literal["fused", "unfused"]] = "fused"
    peer: ClassVar[bool] = False

    def __call__(
        self, src: Path, dst: Path, exclude: Sequence[str] = (), calibration: Calibration | None = None
    ) -> dict[str, Any]:
        return handler_for(self)(self, Path(src), Path(dst), exclude, calibration)


Preset = Callable[..., dict[str, Any]]  # a config with its calibration bound: (src, dst, exclude=()) -> settings
Handler = Callable[[Any, Path, Path, Sequence[str], "Calibration | None"], dict[str, Any]]
HANDLERS: dict[type[PresetConfig], Handler] = {}
PRESETS: Registry[PresetConfig] = Registry("quantization preset")


def preset_handler(config: type[PresetConfig]) -> Callable[[Handler], Handler]:
    """Register the function that applies presets of type ``config`` (and of its subclasses)."""

    def add(handler: Handler) -> Handler:
        HANDLERS[config] = handler
        return handler

    return add


def handler_for(cfg: PresetConfig) -> Handler:
    for cls in type(cfg).__mro__:  # a subclass without a handler of its own uses its parent's
        if cls in HANDLERS:
            return HANDLERS[cls]
    raise MtkdError(f"no handler registered for {type(cfg).__name__} (decorate one with @preset_handler)")


class DynamicInt8(PresetConfig):
    """ONNX Runtime dynamic INT8: weights quantized offline, activations scaled per call."""

    per_channel: bool = False
    """one weight scale per output channel (usually more accurate, same speed)"""
    op_types: list[str] = Field(default_factory=lambda: list(DYNAMIC_OPS))
    """operators quantized"""


@preset_handler(DynamicInt8)
def _dynamic(cfg: DynamicInt8, src: Path, dst: Path, exclude: Sequence[str], calibration) -> dict[str, Any]:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # fused graphs hold contrib ops that ONNX shape inference cannot type: say the default is float
    quantize_dynamic(
        str(src),
        str(dst),
        op_types_to_quantize=cfg.op_types,
        per_channel=cfg.per_channel,
        weight_type=QuantType.QInt8,
        nodes_to_exclude=list(exclude),
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    return {
        "mode": "dynamic",
        "weights": "int8 symmetric",
        "activations": "uint8, scale computed per call",
        "per_channel": cfg.per_channel,
        "op_types": cfg.op_types,
        "precision": "int8",
    }


PRESETS.register("dynamic-int8")(DynamicInt8())
PRESETS.register("dynamic-int8-per-channel")(DynamicInt8(per_channel=True))


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


class StaticInt8(PresetConfig):
    """Static INT8 Q/DQ for ONNX Runtime's CPU provider: activation ranges fixed from calibration
    batches (uint8 asymmetric), weights int8 per channel, int32 biases; on the fused graph."""

    needs_calibration: ClassVar[bool] = True
    symmetric_activations: ClassVar[bool] = False


class TensorRTInt8(StaticInt8):
    """Q/DQ by TensorRT's rules: symmetric int8 activations and per-channel symmetric int8 weights,
    float biases, on the unfused graph of standard operators (TensorRT does its own fusions)."""

    graph: ClassVar[Literal["fused", "unfused"]] = "unfused"
    symmetric_activations: ClassVar[bool] = True


@preset_handler(StaticInt8)
def _static(cfg: StaticInt8, src: Path, dst: Path, exclude: Sequence[str], calibration) -> dict[str, Any]:
    from onnxruntime.quantization import QuantType

    symmetric_activations = cfg.symmetric_activations

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


PRESETS.register("static-int8")(StaticInt8())
PRESETS.register("qdq-int8-tensorrt")(TensorRTInt8())


class TensorRTFp8(PresetConfig):
    """FP8 (E4M3) Q/DQ for TensorRT on Hopper/Ada GPUs: weights per channel, activations per tensor, on
    the unfused graph (opset 19, which FP8 Q/DQ needs). Activation scales are amax/448 over the
    calibration batches (TensorRT Model Optimizer's default): ONNX Runtime's only float-8 calibration
    ("distribution", from the standard deviation) clipped outliers and cost the quickstart's
    regression head 23% RMSE, amax 1.3%. ONNX Runtime's CPU provider runs the graph with reference
    Q/DQ kernels, so accuracy is measured here even though FP8 speed needs a GPU."""

    needs_calibration: ClassVar[bool] = True
    graph: ClassVar[Literal["fused", "unfused"]] = "unfused"


@preset_handler(TensorRTFp8)
def _fp8(cfg: TensorRTFp8, src: Path, dst: Path, exclude: Sequence[str], calibration) -> dict[str, Any]:
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


PRESETS.register("qdq-fp8-tensorrt")(TensorRTFp8())
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


class OptimumDynamicInt8(PresetConfig):
    """Peer: Optimum's ``ORTQuantizer`` with ``AutoQuantizationConfig.avx512_vnni`` dynamic INT8, from the
    unfused export, after ``ORTOptimizer`` at ``optimization`` or straight on the export (``None``, as
    ``optimum-cli onnxruntime quantize --avx512_vnni`` does)."""

    graph: ClassVar[Literal["fused", "unfused"]] = "unfused"
    peer: ClassVar[bool] = True
    optimization: Literal["O1", "O2", "O3", "O4"] | None = None
    """ORTOptimizer level applied first (None: the quantizer straight on the export)"""


@preset_handler(OptimumDynamicInt8)
def _optimum_dynamic(cfg: OptimumDynamicInt8, src: Path, dst: Path, exclude, calibration) -> dict[str, Any]:
    try:
        from optimum.onnxruntime import ORTOptimizer, ORTQuantizer
    except ImportError as e:  # an extra: the peer row is listed with this reason
        raise ArtifactError(f"Optimum is not installed (pip install 'mtkd[optimum]'): {e}") from None
    from optimum.onnxruntime.configuration import AutoOptimizationConfig, AutoQuantizationConfig

    optimization = cfg.optimization

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


PRESETS.register("optimum-o2-dynamic-int8")(OptimumDynamicInt8(optimization="O2"))
PRESETS.register("optimum-dynamic-int8")(OptimumDynamicInt8())


class NncfInt8(PresetConfig):
    """Peer: NNCF post-training INT8 (``nncf.quantize``, transformer model type: SmoothQuant and fast bias
    correction), as OpenVINO and Optimum-Intel users run it, on the unfused export, calibrated on the same
    training batches as the static presets; its Q/DQ graph runs on OpenVINO (int8) and ONNX Runtime."""

    needs_calibration: ClassVar[bool] = True
    graph: ClassVar[Literal["fused", "unfused"]] = "unfused"
    peer: ClassVar[bool] = True
    preset: Literal["performance", "mixed"] = "performance"
    """NNCF's preset: symmetric activations (performance) or asymmetric (mixed)"""
    subset_size: int = Field(300, ge=1)
    """calibration samples NNCF draws from the batches"""


@preset_handler(NncfInt8)
def _nncf(cfg: NncfInt8, src: Path, dst: Path, exclude: Sequence[str], calibration) -> dict[str, Any]:
    try:
        import nncf
    except ImportError:
        raise ArtifactError("nncf is not installed (pip install 'mtkd[openvino]')") from None
    if calibration is None or not calibration.feeds:
        raise ArtifactError(f"NNCF INT8 of {src} needs calibration batches (quantize.calibration in the recipe)")
    model = onnx.load(str(src))
    inputs = {i.name for i in model.graph.input}
    dataset = nncf.Dataset(calibration.feeds, lambda feed: {k: v for k, v in feed.items() if k in inputs})
    quantized = nncf.quantize(
        model,
        dataset,
        preset=nncf.QuantizationPreset(cfg.preset),
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=cfg.subset_size,
    )
    onnx.save(quantized, str(dst))
    return {
        "mode": "static",
        "format": "QDQ",
        "peer": f"NNCF {nncf.__version__} quantize ({cfg.preset})",
        "precision": "int8",
    }


PRESETS.register("nncf-int8")(NncfInt8())


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


class Fp16(PresetConfig):
    """FP16 weights and activations with LayerNorm, softmax and their reductions kept in FP32.

    Inputs and outputs stay as they were (int64 ids in, float32 logits out), so callers do not
    change. Meant for GPUs; ONNX Runtime's CPU provider runs many FP16 operators slowly.
    """

    keep_fp32: list[str] = Field(default_factory=lambda: list(FP32_OPS))
    """operator types left in FP32"""


@preset_handler(Fp16)
def _fp16(cfg: Fp16, src: Path, dst: Path, exclude: Sequence[str], calibration) -> dict[str, Any]:
    from onnxruntime.transformers.onnx_model import OnnxModel

    # the wrapper types fused com.microsoft ops with symbolic shape inference and re-sorts the graph
    wrapper = OnnxModel(onnx.load(str(src)))
    wrapper.convert_float_to_float16(keep_io_types=True, op_block_list=cfg.keep_fp32, node_block_list=list(exclude))
    _drop_repeated_casts(wrapper.model)
    wrapper.topological_sort()
    onnx.checker.check_model(wrapper.model)
    onnx.save(wrapper.model, str(dst))
    return {"mode": "fp16", "kept_fp32": cfg.keep_fp32, "precision": "fp16"}


PRESETS.register("fp16")(Fp16())


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
