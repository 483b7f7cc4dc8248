"""A finished tiny run shared by the tests that read one (quantize, compile, bench, export)."""

from __future__ import annotations

from pathlib import Path

import pytest

from recipes.cli import main
from tests.conftest import TINY_TRAIN, tiny_recipe, write_recipe

QUANTIZE_STUDENT = {
    "model": {"layers": 1, "hidden": 16, "heads": 2, "intermediate": 32, "max_position": 64},
    "distill": {"logits": {}},
    "train": {**TINY_TRAIN, "epochs": 1},
}
QUANTIZE_BENCH = {
    "batch_sizes": [1],
    "seq_lens": [16],
    "warmup": 1,
    "iters": 2,
    "rounds": 1,
    "runtimes": ["torch", "onnxruntime"],
}


@pytest.fixture(scope="session")
def quantized_run(tmp_path_factory) -> Path:
    """A finished tiny run through quantize (dynamic and static INT8, FP8 Q/DQ), compile (TensorRT engines where a
    GPU and TensorRT exist, skipped elsewhere) and bench, shared by the tests that read one."""
    root = tmp_path_factory.mktemp("quantize")
    recipe = tiny_recipe(
        student=QUANTIZE_STUDENT,
        bench=QUANTIZE_BENCH,
        quantize={
            "presets": [
                "dynamic-int8",
                "dynamic-int8-per-channel",
                "static-int8",
                "qdq-int8-tensorrt",
                "qdq-fp8-tensorrt",
            ],
            "teacher_presets": ["dynamic-int8"],  # the teacher exported too: what a user who does not distil ships
            "calibration": {"samples": 48, "batch_size": 8},
            "qat": {"steps": 40, "batch_size": 16, "lr": 1e-4, "calibration_batches": 2},
        },
        compile={"precisions": ["fp32", "fp16", "int8", "int8-qat", "fp8"], "optimization_level": 1},
    )
    recipe["tasks"]["score"]["standardize"] = True  # a standardised regression head through every stage
    path = write_recipe(root / "tiny.yaml", recipe)
    assert main(["run", str(path), "--out", str(root / "runs" / "tiny")]) == 0
    return root / "runs" / "tiny"
