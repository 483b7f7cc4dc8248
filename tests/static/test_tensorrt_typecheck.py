"""The TensorRT code type-checks against NVIDIA's published API (tensorrt-stubs 10.13), and the check
has teeth: a misspelled builder flag or a wrong call fails it."""

from __future__ import annotations

import ast
import re

import pytest

from .trt_stubs import PACKAGES, STUBS, repaired_stubs, run_mypy

pytestmark = pytest.mark.slow  # mypy reads torch's and TensorRT's stubs: ~20 s a run


@pytest.fixture(scope="module")
def stubs(tmp_path_factory):
    return repaired_stubs(tmp_path_factory.mktemp("trt-stubs"))


def test_tensorrt_builder_and_runtime_type_check_against_the_published_stubs(stubs):
    result = run_mypy(stubs)  # the files of pyproject's [tool.mypy]
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found in 2 source files" in result.stdout


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
