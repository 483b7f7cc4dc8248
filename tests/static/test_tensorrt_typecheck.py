"""The TensorRT code type-checks against NVIDIA's published API (tensorrt-stubs 10.13) and against it less
what TensorRT 11 removed, and the check has teeth: a misspelled builder flag or a wrong call fails it."""

from __future__ import annotations

import ast
import re

import pytest

from .trt_stubs import PACKAGES, STUBS, repaired_stubs, run_mypy, stubs_of_11

pytestmark = pytest.mark.slow  # mypy reads torch's and TensorRT's stubs: ~20 s a run


@pytest.fixture(scope="module")
def stubs(tmp_path_factory):
    return repaired_stubs(tmp_path_factory.mktemp("trt-stubs"))


def test_tensorrt_builder_and_runtime_type_check_against_the_published_stubs(stubs):
    result = run_mypy(stubs)  # the files of pyproject's [tool.mypy]
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found in 2 source files" in result.stdout


def test_the_same_code_type_checks_against_tensorrt_11s_api(stubs, tmp_path):
    eleven, removed = stubs_of_11(stubs, tmp_path / "trt11")
    assert removed == 11  # nine builder flags, compute_precision, int8_calibrator
    result = run_mypy(eleven)
    assert result.returncode == 0, result.stdout + result.stderr
    weak = tmp_path / "weak_typing.py"  # what the builder did before: a flag TensorRT 11 no longer has
    weak.write_text(
        "import tensorrt as trt\n\n\n"
        "def build(config: trt.IBuilderConfig) -> None:\n"
        "    config.set_flag(trt.BuilderFlag.FP16)\n"
    )
    assert '"type[BuilderFlag]" has no attribute "FP16"' in run_mypy(eleven, weak).stdout
    assert run_mypy(stubs, weak).returncode == 0  # fine on 10


def test_wrong_tensorrt_api_use_fails_the_check(stubs, tmp_path):
    bad = tmp_path / "bad_engine.py"
    bad.write_text(
        "import tensorrt as trt\n\n\n"
        "def build(config: trt.IBuilderConfig, network: trt.INetworkDefinition) -> None:\n"
        "    config.set_flag(trt.BuilderFlag.FP61)\n"
        "    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE)\n"
        "    network.get_layer('encoder.0')\n"
    )
    result = run_mypy(stubs, bad)
    assert result.returncode == 1
    assert '"type[BuilderFlag]" has no attribute "FP61"' in result.stdout
    assert 'Missing positional argument "pool_size"' in result.stdout
    assert 'Argument 1 to "get_layer" of "INetworkDefinition" has incompatible type "str"' in result.stdout


def test_stub_repair_keeps_every_class_and_function_of_the_published_stubs(stubs):
    declared = re.compile(r"^\s*(?:class|def) (\w+)", re.M)
    for package in PACKAGES:
        for original in (STUBS / package).rglob("*.pyi"):
            repaired = stubs / original.relative_to(STUBS)
            ast.parse(repaired.read_text())  # parseable now
            assert declared.findall(repaired.read_text()) == declared.findall(original.read_text()), original
            assert len(repaired.read_text().splitlines()) == len(original.read_text().splitlines())
