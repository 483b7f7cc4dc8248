"""PyTorch-only GPU runtimes: weights cast to fp16/bf16 (heads kept FP32), and CUDA graphs per padded shape.

The CUDA graph backend's own logic (padding to a bucket, one capture per shape, new inputs copied into the
captured buffers before each replay, token outputs cut back) runs on the CPU with a fake capture that replays
by calling the forward again; the real capture runs where a GPU is."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks.harness import synthetic_batch
from compress.runtime import RUNTIMES, cuda_graphs, load_backend
from compress.runtime.cuda_graphs import SEQ_BUCKET, TorchCudaGraphBackend
from distill.config import ModelConfig
from distill.model import HeadSpec, MultiTaskModel
from distill.tokenization import train_wordpiece

HEADS = [HeadSpec("cat", "classification", ("a", "b")), HeadSpec("tags", "token_classification", ("O", "B-X"))]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    tok = train_wordpiece(["red boots", "blue shirt"] * 10, 60, 1)
    torch.manual_seed(0)
    cfg = ModelConfig(layers=2, hidden=16, heads=2, intermediate=32, max_position=64)
    model = MultiTaskModel.from_config(cfg, HEADS, tok)
    path = tmp_path_factory.mktemp("gpu-rt") / "model"
    model.save_pretrained(path, tok)
    return path


def test_torch_cast_keeps_the_encoder_in_bf16_and_the_heads_in_fp32_close_to_fp32(model_dir, monkeypatch):
    monkeypatch.setattr("compress.runtime.torch_backend.no_native_bf16", lambda: None)
    cast, fp32 = load_backend("torch-cast", model_dir, "bf16"), load_backend("torch", model_dir)
    assert {p.dtype for p in cast.model.encoder.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in cast.model.heads.parameters()} == {torch.float32}
    x = synthetic_batch(3, 9, fp32.model_config.vocab_size)
    a, b = fp32(x), cast(x)
    assert all(b[k].dtype == np.float32 and b[k].shape == a[k].shape for k in a)
    diff = max(float(np.abs(a[k] - b[k]).max()) for k in a)
    assert 0 < diff < 0.1  # it really computes in bf16, and stays close
    assert "CUDA only" in RUNTIMES.get("torch-cast").unavailable(model_dir, "fp16", "cpu")
    assert "not supported" in RUNTIMES.get("torch-cast").unavailable(model_dir, "fp32", "cpu")


class ReplayByCalling:
    """A stand-in for a captured graph: replay runs the forward again and writes into the captured outputs."""

    def __init__(self, fn):
        self.fn, self.replays = fn, 0

    def replay(self) -> None:
        self.replays += 1
        for task, value in self.fn().items():
            self.out[task].copy_(value)


def fake_capture(fn, warmup: int = 3):
    graph = ReplayByCalling(fn)
    graph.out = {k: v.clone() for k, v in fn().items()}
    return graph, graph.out


@pytest.fixture
def graphed(model_dir, monkeypatch):
    monkeypatch.setattr(cuda_graphs, "capture", fake_capture)
    monkeypatch.setattr(TorchCudaGraphBackend, "unavailable", classmethod(lambda cls, a, p, d: None))
    return TorchCudaGraphBackend(model_dir, "fp32", device="cpu")


def test_cuda_graphs_replay_new_inputs_through_one_graph_per_padded_shape(graphed, model_dir):
    eager = load_backend("torch", model_dir)
    vocab = eager.model_config.vocab_size
    first, second = synthetic_batch(2, 10, vocab, seed=1), synthetic_batch(2, 12, vocab, seed=2)
    for batch in (first, second):  # 10 and 12 tokens share the 32-token graph; the second must not see the first
        want, got = eager(batch), graphed(batch)
        for task in want:
            assert got[task].shape == want[task].shape
            assert np.allclose(got[task], want[task], atol=1e-5), task
    assert list(graphed.graphs) == [(2, SEQ_BUCKET)] and graphed.graphs[(2, SEQ_BUCKET)][0].replays == 2
    graphed(synthetic_batch(3, 40, vocab))  # another batch size and the next bucket: two more graphs
    assert set(graphed.graphs) == {(2, SEQ_BUCKET), (3, 2 * SEQ_BUCKET)}


def test_cuda_graphs_are_refused_off_cuda(model_dir):
    assert RUNTIMES.get("torch-cudagraph").unavailable(model_dir, "fp32", "cpu") == "CUDA graphs need a CUDA device"
    assert "not supported" in RUNTIMES.get("torch-cudagraph").unavailable(model_dir, "int8", "cuda")


def test_padding_masks_the_added_tokens_and_never_passes_the_models_positions(graphed):
    vocab = graphed.model_config.vocab_size
    assert graphed(synthetic_batch(1, 50, vocab))["tags"].shape == (1, 50, 2)
    padded, seq = graphed.padded(synthetic_batch(1, 50, vocab))
    assert seq == 50 and padded["input_ids"].shape == (1, 64) and padded["attention_mask"][0, 50:].sum() == 0
    assert padded["input_ids"][0, 50:].tolist() == [graphed.pad_id] * 14
    at_limit, seq = graphed.padded(synthetic_batch(1, 64, vocab))  # the model's 64 positions: no padding past them
    assert seq == 64 and at_limit["input_ids"].shape == (1, 64)


@pytest.mark.gpu
def test_cuda_graphs_and_cast_weights_match_eager_on_a_gpu(model_dir):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    eager = load_backend("torch", model_dir, device="cuda")
    x = synthetic_batch(4, 20, eager.model_config.vocab_size)
    want = eager(x)
    for runtime, precision, atol in (
        ("torch-cudagraph", "fp32", 1e-4),
        ("torch-cudagraph", "fp16", 5e-2),
        ("torch-cast", "fp16", 5e-2),
        ("torch-cast", "bf16", 1e-1),
    ):
        got = load_backend(runtime, model_dir, precision, "cuda")(x)
        assert all(np.allclose(got[k], want[k], atol=atol) for k in want), (runtime, precision)
