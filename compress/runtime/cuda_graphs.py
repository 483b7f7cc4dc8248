"""``torch-cudagraph``: the model replayed from CUDA graphs, one captured per input shape.

A graph replays a whole forward pass as one launch, which removes the per-kernel launch cost that dominates
small encoders at small batches on a GPU. Graphs are captured for fixed shapes: sequences are padded (mask 0)
up to the next multiple of ``SEQ_BUCKET`` so that real text needs few graphs, and each batch size gets its own.
Capture follows PyTorch's recipe: warm-up on a side stream, static input buffers, new inputs copied into them
before every replay, outputs read before the next replay.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .base import RUNTIMES, Batch
from .torch_backend import DTYPES, TorchBackend

SEQ_BUCKET = 32
WARMUP = 3  # calls on a side stream before capture (cuBLAS handles, autotuning, lazy initialisation)


def capture(fn: Callable[[], Any], warmup: int = WARMUP) -> tuple[Any, Any]:
    """(graph, outputs): ``fn`` warmed up on a side stream, then captured; replaying the graph rewrites the
    returned outputs in place."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(warmup):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = fn()
    return graph, out


@RUNTIMES.register("torch-cudagraph")
class TorchCudaGraphBackend(TorchBackend):
    """Eager PyTorch (fp32, or fp16/bf16 autocast) captured into one CUDA graph per (batch, padded sequence)."""

    name = "torch-cudagraph"
    precisions = ("fp32", "fp16", "bf16")

    def __init__(
        self, artifact: Path, precision: str = "fp32", device: str = "cuda", max_batch: int | None = None
    ) -> None:
        super().__init__(artifact, precision, device, max_batch)
        self.pad_id = int(getattr(self.model.config, "pad_token_id", 0) or 0)
        self.graphs: dict[tuple[int, int], tuple[Any, dict[str, torch.Tensor], dict[str, torch.Tensor]]] = {}

    @classmethod
    def unavailable(cls, artifact: Path, precision: str, device: str) -> str | None:
        if device != "cuda":
            return "CUDA graphs need a CUDA device"
        return super().unavailable(artifact, precision, device)

    def _autocast(self):
        if self.precision in DTYPES:  # a cached cast would be captured once and go stale: no cache in graphs
            return torch.autocast("cuda", dtype=DTYPES[self.precision], cache_enabled=False)
        return super()._autocast()

    def padded(self, batch: Batch) -> tuple[Batch, int]:
        """The batch padded (attention mask 0) to the next multiple of SEQ_BUCKET, and its real length."""
        seq = batch["input_ids"].shape[1]
        target = min(-(-seq // SEQ_BUCKET) * SEQ_BUCKET, self.model.config.max_position_embeddings)
        if target <= seq:
            return batch, seq
        fill = {"input_ids": self.pad_id}
        return {
            k: np.pad(v, ((0, 0), (0, target - seq)), constant_values=fill.get(k, 0)) for k, v in batch.items()
        }, seq

    def _graph_for(self, batch: Batch):
        shape = batch["input_ids"].shape
        if shape not in self.graphs:
            static = {k: torch.from_numpy(v).to(self.device) for k, v in batch.items()}

            def forward() -> dict[str, torch.Tensor]:
                with torch.inference_mode(), self._autocast():
                    return dict(self.module(**static).logits)

            graph, out = capture(forward)
            self.graphs[shape] = (graph, static, out)
        return self.graphs[shape]

    def __call__(self, batch: Batch) -> dict[str, np.ndarray]:
        padded, seq = self.padded(batch)
        graph, static, out = self._graph_for(padded)
        for k, v in padded.items():  # new inputs into the captured buffers: a replay reads only those
            static[k].copy_(torch.from_numpy(v), non_blocking=False)
        graph.replay()
        return {t: _unpadded(v, seq).float().cpu().numpy() for t, v in out.items()}


def _unpadded(out: torch.Tensor, seq: int) -> torch.Tensor:
    """A token head's output back to the real sequence length (pooled heads are unaffected)."""
    return out[:, :seq] if out.dim() == 3 else out
