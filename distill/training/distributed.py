"""Data-parallel training across processes (torchrun): gloo on CPU, NCCL on CUDA.

Every rank builds the same epoch plan (it is a pure function of seed and epoch) and takes its
share of each step's batch, so ``batch_size`` stays the global batch and N processes compute the
gradient of the very batch one process would: gradients are averaged with one all-reduce per
step, weighted by shard size. Only rank 0 writes files; evaluation shards the examples and
gathers the predictions, so metrics are computed once, over the whole split.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

log = logging.getLogger("mtkd")
TIMEOUT = timedelta(hours=3)  # rank 0 may run a long non-parallel stage while the others wait


def active() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """Whether this process writes files and logs (rank 0, or the only process)."""
    return rank() == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env(device: str) -> str:
    """Join the process group torchrun describes in the environment; returns the device to use.

    CUDA ranks get ``cuda:LOCAL_RANK`` and NCCL; CPU ranks gloo. Multi-node works through
    torchrun's usual ``--nnodes/--node_rank/--rdzv_endpoint`` flags (a shared filesystem holds the run).
    """
    if not launched_by_torchrun() or dist.is_initialized():
        return device
    cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    dist.init_process_group("nccl" if cuda else "gloo", timeout=TIMEOUT)
    if not is_main():  # one log, one progress bar
        logging.getLogger("mtkd").setLevel(logging.WARNING)
        os.environ["TQDM_DISABLE"] = "1"
    log.info("distributed: %d processes (%s)", world_size(), dist.get_backend())
    return device


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if active():
        dist.barrier()


def broadcast(value: Any) -> Any:
    """Rank 0's ``value`` on every rank (any picklable object)."""
    if not active():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def shard(indices: Sequence[int], sizes: Sequence[float] | None = None) -> tuple[list[int], float]:
    """This rank's part of a global batch and the weight that makes averaged gradients exact.

    A loss that is a mean over units (examples, or labelled tokens when ``sizes`` gives each
    example's count) times ``units(part) · N / units(batch)``, averaged over ranks, equals the
    batch's mean loss. A rank left without examples (a batch smaller than N) computes on one
    example with weight 0, so every rank still joins the all-reduce.
    """
    n = world_size()
    if n == 1:
        return list(indices), 1.0
    positions = list(range(rank(), len(indices), n))
    if not positions:
        return [indices[0]], 0.0
    size = (lambda p: 1.0) if sizes is None else (lambda p: float(sizes[p]))
    total = sum(size(p) for p in range(len(indices)))
    mine = sum(size(p) for p in positions)
    return [indices[p] for p in positions], (mine * n / total if total else 0.0)


def broadcast_parameters(module: nn.Module) -> None:
    """Start every rank from rank 0's weights."""
    if active():
        for t in module.state_dict().values():
            dist.broadcast(t, src=0)


def average_gradients(params: Iterable[nn.Parameter]) -> None:
    """Average gradients over ranks with one flat all-reduce.

    Only parameters that have a gradient take part: every rank trains the same task in a step, so
    all ranks agree on that set, and the heads of other tasks keep ``grad=None`` exactly as in one
    process (a zero gradient would still let AdamW's momentum and weight decay move them).
    """
    if not active():
        return
    params = [p for p in params if p.grad is not None]
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    dist.all_reduce(flat)
    flat /= world_size()
    offset = 0
    for p in params:
        n = p.numel()
        p.grad.copy_(flat[offset : offset + n].view_as(p))
        offset += n


def gather_by_index(local: dict[int, Any], total: int) -> list[Any]:
    """Every rank's ``{example index: value}`` merged into one list of ``total`` values."""
    if not active():
        return [local[i] for i in range(total)]
    parts: list[dict[int, Any] | None] = [None] * world_size()
    dist.all_gather_object(parts, local)
    merged: dict[int, Any] = {}
    for part in parts:
        merged.update(part or {})
    return [merged[i] for i in range(total)]


def mean_over_ranks(values: dict[str, float]) -> dict[str, float]:
    """Per-key mean of floats across ranks (e.g. training losses for the log)."""
    if not active() or not values:
        return values
    keys = sorted(values)
    on = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=on)
    dist.all_reduce(t)
    return {k: float(v) / world_size() for k, v in zip(keys, t.tolist(), strict=True)}
