"""The engine builder's one code path for TensorRT 10 and 11, run against fake ``tensorrt`` modules shaped
like each major's Python API (no TensorRT library or GPU exists here): 10 types layers from precision flags,
11 has no such flags and builds every network strongly typed."""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path

import pytest

from compress.tensorrt import CompileConfig, ShapeProfile

TEN_ONLY_FLAGS = ("FP16", "INT8", "FP8", "BF16", "OBEY_PRECISION_CONSTRAINTS")


def fake_tensorrt(major: int) -> types.ModuleType:
    """What the builder touches of ``tensorrt``; TensorRT 11 without what its migration guide lists as removed."""
    trt = types.ModuleType("tensorrt")
    trt.__version__ = f"{major}.4.0.1"
    flags = ("TF32", "SPARSE_WEIGHTS", *(TEN_ONLY_FLAGS if major == 10 else ()))
    trt.BuilderFlag = types.SimpleNamespace(**{f: f for f in flags})
    trt.NetworkDefinitionCreationFlag = types.SimpleNamespace(STRONGLY_TYPED=5)
    trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE="workspace")
    trt.ProfilingVerbosity = types.SimpleNamespace(DETAILED="detailed")
    trt.LayerType = types.SimpleNamespace(NORMALIZATION="normalization", MATRIX_MULTIPLY="matmul")
    trt.float32 = "float32"
    trt.Dims = list

    class ILogger:
        Severity = types.SimpleNamespace(INTERNAL_ERROR=0, ERROR=1, WARNING=2)

        def __init__(self) -> None:
            pass

    class ILayer:
        def __init__(self, kind: str) -> None:
            self.type = kind

    class INormalizationLayer(ILayer):
        pass

    if major == 10:
        INormalizationLayer.compute_precision = None  # a class attribute: hasattr sees the field 11 removed
    trt.ILogger, trt.INormalizationLayer = ILogger, INormalizationLayer
    trt.layers = [ILayer("matmul"), ILayer("normalization"), ILayer("normalization")]
    return trt


class Recorder:
    """A builder, config, network and profile in one: records what the builder code asks of them."""

    def __init__(self, trt: types.ModuleType) -> None:
        self.set, self.cleared, self.network_flags, self.layers = [], [], None, trt.layers
        self.num_layers, self.num_inputs = len(self.layers), 1

    def create_network(self, flags: int) -> Recorder:
        self.network_flags = flags
        return self

    def create_builder_config(self) -> Recorder:
        return self

    def create_optimization_profile(self) -> Recorder:
        return self

    def set_flag(self, flag: str) -> None:
        self.set.append(flag)

    def clear_flag(self, flag: str) -> None:
        self.cleared.append(flag)

    def get_layer(self, i: int):
        return self.layers[i]

    def get_input(self, i: int):
        return types.SimpleNamespace(name="input_ids")

    def set_memory_pool_limit(self, *args) -> None: ...
    def set_shape(self, *args) -> None: ...
    def add_optimization_profile(self, *args) -> None: ...


@pytest.fixture(params=[10, 11])
def builder(request, monkeypatch):
    trt = fake_tensorrt(request.param)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.delitem(sys.modules, "compress.tensorrt.builder", raising=False)
    module = importlib.import_module("compress.tensorrt.builder")
    yield request.param, trt, module
    sys.modules.pop("compress.tensorrt.builder", None)  # the next import sees the real (absent) TensorRT


def configure(module, trt, precision: str, strongly_typed: bool = False):
    req = module.BuildRequest(
        Path("g.onnx"),
        precision,
        ShapeProfile((1, 8), (4, 64), (32, 128)),
        CompileConfig(strongly_typed=strongly_typed),
    )
    rec = Recorder(trt)
    _, settings = module._configure(rec, rec, req)
    return rec, settings


def test_fp16_is_a_builder_flag_on_10_and_the_graphs_own_types_on_11(builder):
    major, trt, module = builder
    rec, settings = configure(module, trt, "fp16")
    if major == 10:
        assert rec.set == ["FP16"] and settings["layernorm_fp32_layers"] == 2 and not settings["strongly_typed"]
        assert all(layer.compute_precision == "float32" for layer in trt.layers if layer.type == "normalization")
    else:
        assert rec.set == [] and settings["layernorm_fp32_layers"] == 0 and settings["strongly_typed"]
    assert "TF32" not in rec.cleared and settings["tensorrt"].startswith(str(major))


def test_fp32_means_fp32_on_both_majors(builder):
    _, trt, module = builder
    rec, _ = configure(module, trt, "fp32")
    assert rec.cleared == ["TF32"] and rec.set == []


def test_qdq_engines_use_quantization_flags_only_where_they_exist(builder):
    major, trt, module = builder
    int8, _ = configure(module, trt, "int8")
    fp8, _ = configure(module, trt, "fp8")
    typed, settings = configure(module, trt, "int8", strongly_typed=True)
    if major == 10:
        assert int8.set == ["FP16", "INT8"] and fp8.set == ["FP16", "FP8"]
    else:
        assert int8.set == fp8.set == []
    assert typed.set == [] and settings["strongly_typed"]


def test_the_strongly_typed_network_flag_is_set_on_10_and_left_to_11(builder):
    major, trt, module = builder
    rec = Recorder(trt)
    req = module.BuildRequest(
        Path("g.onnx"), "int8", ShapeProfile((1, 8), (4, 64), (32, 128)), CompileConfig(strongly_typed=True)
    )

    class Parser:
        num_errors = 0

        def __init__(self, network, logger) -> None: ...

        def parse_from_file(self, path: str) -> bool:
            return True

    trt.OnnxParser = Parser
    module._parse(rec, req, None)
    assert rec.network_flags == (1 << 5 if major == 10 else 0)
