"""The runtime registry and the torch backends on a tiny model directory."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks.harness import synthetic_batch
from compress.runtime import RUNTIMES, load_backend
from distill.config import ModelConfig
from distill.errors import MtkdError
from distill.model import HeadSpec, MultiTaskModel
from distill.tokenization import train_wordpiece

HEADS = [HeadSpec("cat", "classification", ("a", "b")), HeadSpec("tags", "token_classification", ("O", "B-X"))]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    tok = train_wordpiece(["red boots", "blue shirt"] * 10, 60, 1)
    torch.manual_seed(0)
    model = MultiTaskModel.from_config(
        ModelConfig(layers=1, hidden=16, heads=2, intermediate=32, max_position=32), HEADS, tok
    )
    path = tmp_path_factory.mktemp("rt") / "model"
    model.save_pretrained(path, tok)
    return path


def test_torch_backend_returns_every_head_as_float32_numpy(model_dir):
    backend = load_backend("torch", model_dir)
    out = backend(synthetic_batch(3, 7, backend.model_config.vocab_size))
    assert set(out) == {"cat", "tags"}
    assert out["cat"].shape == (3, 2) and out["tags"].shape == (3, 7, 2) and out["cat"].dtype == np.float32
    assert backend.num_parameters() > 0 and backend.size_mb() > 0
    assert [h.name for h in backend.heads] == ["cat", "tags"]


def test_unavailable_runtimes_say_why(model_dir, tmp_path):
    assert "CUDA only" in RUNTIMES.get("torch").unavailable(model_dir, "fp16", "cpu")
    assert "not an mtkd model directory" in RUNTIMES.get("torch").unavailable(tmp_path, "fp32", "cpu")
    assert "CPU only" in RUNTIMES.get("torch").unavailable(model_dir, "int8", "cuda")
    with pytest.raises(MtkdError, match=r"torch cannot run .* at int4 on cpu"):
        load_backend("torch", model_dir, "int4")
    with pytest.raises(MtkdError, match="unknown runtime 'tensorflow'"):
        load_backend("tensorflow", model_dir)


@pytest.mark.slow
def test_torch_compile_matches_eager_on_cpu_without_recompiling_for_new_shapes(model_dir):
    eager, compiled = load_backend("torch", model_dir), load_backend("torch-compile", model_dir)
    for batch, seq in ((2, 8), (3, 12)):  # dynamic shapes: a second shape reuses the compiled graph
        x = synthetic_batch(batch, seq, eager.model_config.vocab_size)
        a, b = eager(x), compiled(x)
        for task in a:
            assert a[task].shape == b[task].shape and np.allclose(a[task], b[task], atol=1e-5), task


def test_torch_int8_is_torch_ao_dynamic_quantization_close_to_fp32(model_dir):
    fp32, int8 = load_backend("torch", model_dir), load_backend("torch", model_dir, "int8")
    assert any(type(m).__name__ == "Linear" and "quantized" in type(m).__module__ for m in int8.model.modules())
    x = synthetic_batch(4, 10, fp32.model_config.vocab_size)
    a, b = fp32(x), int8(x)
    assert max(float(np.abs(a[k] - b[k]).max()) for k in a) < 0.2


def test_torch_bf16_on_cpu_is_autocast_where_the_cpu_has_bf16_and_refused_where_it_would_be_emulated(
    model_dir, monkeypatch
):
    from compress.runtime import cpu

    assert cpu.no_native_bf16("flags\t: avx2 avx512f avx512_bf16\n") is None
    assert "emulated" in cpu.no_native_bf16("flags\t: avx2 avx512f avx512_vnni\n")
    monkeypatch.setattr("compress.runtime.torch_backend.no_native_bf16", lambda: "emulated here")
    assert RUNTIMES.get("torch").unavailable(model_dir, "bf16", "cpu") == "emulated here"
    monkeypatch.setattr("compress.runtime.torch_backend.no_native_bf16", lambda: None)
    bf16, fp32 = load_backend("torch", model_dir, "bf16"), load_backend("torch", model_dir)
    x = synthetic_batch(2, 9, fp32.model_config.vocab_size)
    with torch.inference_mode(), bf16._autocast():  # the forward really computes in bf16
        assert torch.nn.functional.linear(torch.ones(1, 4), torch.ones(2, 4)).dtype == torch.bfloat16
    a, b = fp32(x), bf16(x)
    assert b["cat"].dtype == np.float32 and max(float(np.abs(a[k] - b[k]).max()) for k in a) < 0.1
