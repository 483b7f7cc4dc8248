"""Each bench row's GPU memory is what that candidate allocates, not the total of every candidate loaded
before it (they stay loaded for the interleaved timing). A fake CUDA allocator stands in for a GPU."""

from __future__ import annotations

from pathlib import Path

import torch

from benchmarks import harness
from benchmarks.config import BenchConfig


class Allocator:
    def __init__(self) -> None:
        self.now = self.peak = 0

    def allocate(self, n: int) -> None:
        self.now += n
        self.peak = max(self.peak, self.now)

    def reset_peak(self) -> None:
        self.peak = self.now


class FakeBackend:
    model_config = None
    provider = None
    heads = ()

    def __init__(self, allocator: Allocator, resident: int, scratch: int) -> None:
        allocator.allocate(resident)  # weights stay
        self.allocator, self.scratch = allocator, scratch

    def __call__(self, batch):
        self.allocator.allocate(self.scratch)  # activations, freed after the call
        self.allocator.allocate(-self.scratch)
        return {}

    def size_mb(self) -> float:
        return 0.0

    def num_parameters(self) -> int:
        return 0


def test_a_candidates_gpu_memory_leaves_out_the_ones_loaded_before_it(monkeypatch):
    gpu = Allocator()
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda *a: gpu.reset_peak())
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda *a: gpu.now)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda *a: gpu.peak)
    sizes = {"teacher": (400_000_000, 100_000_000), "student": (50_000_000, 10_000_000)}
    monkeypatch.setattr(harness, "load_backend", lambda runtime, path, *a: FakeBackend(gpu, *sizes[Path(path).name]))
    cfg = BenchConfig(batch_sizes=[1], seq_lens=[8], device="cuda")
    rows = {}
    for name in ("teacher", "student"):  # the teacher stays loaded while the student is measured
        _, info = harness.load_candidate(harness.Candidate(name, Path(name), "torch", "fp32", "cuda"), cfg, None, 8)
        rows[name] = info["gpu_memory_mb"]
    assert rows == {"teacher": 500.0, "student": 60.0}  # weights + scratch of each, in MB
