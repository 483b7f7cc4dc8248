"""One optimization profile that covers every shape a run will feed the engine.

TensorRT engines with dynamic axes need min/opt/max shapes; a call outside them fails, and a
second profile means a second set of tactics. One profile spanning the bench grid *and* the
accuracy evaluation (batch 64, any length up to ``max_len``) means no shape ever forces a rebuild;
``opt`` is the bench report's shape, the one the tactics are tuned for.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

EVAL_BATCH = 64  # compress.runtime.accuracy.backend_accuracy evaluates in batches of 64


@dataclass(frozen=True)
class ShapeProfile:
    """(batch, sequence) bounds shared by every input (ids, mask, token types)."""

    min: tuple[int, int]
    opt: tuple[int, int]
    max: tuple[int, int]

    def __post_init__(self) -> None:
        for axis in (0, 1):
            if not 1 <= self.min[axis] <= self.opt[axis] <= self.max[axis]:
                raise ValueError(f"profile needs 1 ≤ min ≤ opt ≤ max on every axis, got {self}")

    def covers(self, batch: int, seq: int) -> bool:
        return self.min[0] <= batch <= self.max[0] and self.min[1] <= seq <= self.max[1]

    def as_dict(self) -> dict[str, list[int]]:
        return {k: list(v) for k, v in asdict(self).items()}

    def ort_shapes(self, inputs: list[str]) -> dict[str, str]:
        """ONNX Runtime TensorRT provider options: ``trt_profile_{min,opt,max}_shapes``."""
        return {
            f"trt_profile_{k}_shapes": ",".join(f"{name}:{b}x{s}" for name in inputs)
            for k, (b, s) in asdict(self).items()
        }


def profile_for(
    batch_sizes: list[int],
    seq_lens: list[int],
    max_len: int,
    report_shape: tuple[int, int] | None = None,
    max_batch: int | None = None,
) -> ShapeProfile:
    """The profile for a bench grid, evaluation at ``max_len`` and an optional larger ``max_batch``."""
    top_batch = max([*batch_sizes, EVAL_BATCH, max_batch or 1])
    top_seq = max([*seq_lens, max_len])
    opt = report_shape or (min(batch_sizes), max(seq_lens))
    return ShapeProfile(min=(1, 1), opt=(min(opt[0], top_batch), min(opt[1], top_seq)), max=(top_batch, top_seq))
