"""Quantization-aware training: fake-quant INT8 Linear layers, fine-tuned by distillation from the FP32 model.

Every ``nn.Linear`` of the encoder and tag heads quantizes its input (int8 symmetric per tensor, the
range observed on calibration batches, then frozen) and its weight (int8 symmetric per output
channel) in the forward pass; gradients pass straight through. The student learns to live with
the rounding by matching the FP32 model's outputs (the KD losses of each head type), and exports
as a Q/DQ ONNX graph: ``QuantizeLinear``/``DequantizeLinear`` around every MatMul.
"""

from __future__ import annotations

import copy
import logging
import random
from pathlib import Path
from typing import Any

import torch
from pydantic import Field
from torch import nn
from torch.nn import functional as F
from transformers import AutoTokenizer

from distill.config import StrictModel
from distill.data.examples import TaskData
from distill.encoding import EncodedSplit, collate, encode_examples, model_inputs
from distill.io import write_json
from distill.kd.losses import LOGIT_LOSSES
from distill.model import MultiTaskModel
from distill.tasks import TaskType, task_type
from distill.training.engine import Engine, Progress, Schedule, Step

from .export import MANIFEST, export_model

log = logging.getLogger("mtkd")
QMAX = 127


class QatConfig(StrictModel):
    """Fine-tuning steps of quantization-aware distillation (0 disables it)."""

    steps: int = Field(200, ge=0)
    """fine-tuning steps (0: no QAT artifact)"""
    calibration_batches: int = Field(8, ge=1, description="batches observing activation ranges before training")
    batch_size: int = Field(32, ge=1)
    """training batch size"""
    lr: float = Field(2e-5, gt=0)
    """learning rate"""
    temperature: float = Field(2.0, gt=0)
    """KD temperature (the model distils from its FP32 self)"""
    seed: int = 0
    """seed of the batch order"""


class FakeQuantLinear(nn.Module):
    """A Linear computing on int8-rounded inputs and weights (straight-through gradients)."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.linear = linear
        self.register_buffer("input_max", torch.zeros(()))
        self.observing = False
        self.weight_scale: torch.Tensor | None = None  # fixed by freeze(): constants in the exported graph

    def freeze(self) -> None:
        """Fix the weight scales after training, so the export holds them as constants."""
        self.weight_scale = self._weight_scale().detach()

    def _weight_scale(self) -> torch.Tensor:
        return (self.linear.weight.detach().abs().amax(dim=1) / QMAX).clamp(min=1e-8).float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.observing:
            self.input_max = torch.maximum(self.input_max, x.detach().abs().max())
        scale = (self.input_max / QMAX).clamp(min=1e-8).float()
        zero = torch.zeros((), dtype=torch.int32)
        xq = torch.fake_quantize_per_tensor_affine(x, scale, zero, -QMAX - 1, QMAX)
        w = self.linear.weight
        w_scale = self.weight_scale if self.weight_scale is not None else self._weight_scale()
        w_zero = torch.zeros(w.shape[0], dtype=torch.int32)
        # range -128..127 (ONNX's int8); scales from max/127 keep weights symmetric, -128 is never hit
        wq = torch.fake_quantize_per_channel_affine(w, w_scale, w_zero, 0, -QMAX - 1, QMAX)
        return F.linear(xq, wq, self.linear.bias)


def with_fake_quant(model: MultiTaskModel) -> MultiTaskModel:
    """A copy of ``model`` whose per-token Linear layers (encoder, tag heads) are ``FakeQuantLinear``.

    Sequence-level heads stay FP32: they see one vector per example, so INT8 saves nothing there,
    while ONNX Runtime would dequantize their weights and requantize their input on every call
    (measured: ~90 µs of the ecommerce student's 0.47 ms at batch 1)."""
    model = copy.deepcopy(model)
    per_example = {  # by task type, not head class: a standardised regression head wraps its SequenceHead
        id(m)
        for name, head in model.heads.items()
        if not task_type(model.head_specs[name].type).per_token
        for m in head.modules()
    }
    for parent in list(model.modules()):
        if id(parent) in per_example:
            continue
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                setattr(parent, name, FakeQuantLinear(child))
    return model


def _batches(encoded: dict[str, EncodedSplit], kinds: dict[str, TaskType], size: int, rng: random.Random, pad: int):
    names = list(encoded)
    step = 0
    while True:  # round-robin over tasks, random examples: every head keeps its rounding in check
        task = names[step % len(names)]
        split = encoded[task]
        idx = rng.sample(range(len(split)), min(size, len(split)))
        tags = kinds[task].per_token
        yield task, collate(split, idx, pad, tags)
        step += 1


class RoundRobinBatches:
    """``steps`` batches in one epoch, drawn in order from the round-robin stream (QAT is not resumed)."""

    def __init__(self, stream, steps: int) -> None:
        self.stream, self.n = stream, steps

    def steps(self, epoch: int, progress: Progress) -> int:
        return self.n

    def step(self, epoch: int, i: int) -> Step:
        task, batch = next(self.stream)
        return Step([task], batch)


def _observe_ranges(student: MultiTaskModel, fakes: list[FakeQuantLinear], batches, n: int) -> None:
    """Each fake-quant input's range over ``n`` batches, in eval mode."""
    student.eval()
    for m in fakes:
        m.observing = True
    with torch.no_grad():
        for _ in range(n):
            _, batch = next(batches)
            student(**model_inputs(batch))
    for m in fakes:
        m.observing = False


def quantization_aware_distill(
    fp32: MultiTaskModel, encoded: dict[str, EncodedSplit], kinds: dict[str, TaskType], pad_id: int, cfg: QatConfig
) -> tuple[MultiTaskModel, dict[str, Any]]:
    """Fake-quant copy of ``fp32``: activation ranges observed, then ``cfg.steps`` steps of KD from ``fp32``."""
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    teacher = fp32.eval()
    student = with_fake_quant(fp32)
    fakes = [m for m in student.modules() if isinstance(m, FakeQuantLinear)]
    batches = _batches(encoded, kinds, cfg.batch_size, rng, pad_id)
    _observe_ranges(student, fakes, batches, cfg.calibration_batches * len(encoded))

    def kd_loss(tasks: list[str], batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        task, inputs = tasks[0], model_inputs(batch)
        with torch.no_grad():
            target = teacher(**inputs, tasks=[task]).logits[task]
        out = student(**inputs, tasks=[task]).logits[task]
        return {task: LOGIT_LOSSES.get(kinds[task].label_kind)(out, target, cfg.temperature, batch["labels"])}

    losses: list[float] = []
    optimizer = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=cfg.lr)
    # dropout stays off: it scales kept activations by 1/(1-p) past the ranges observed in eval mode,
    # so training would learn around clipping that never happens at inference
    schedule = Schedule(epochs=1, train_mode=False, name="qat")
    engine = Engine(
        student, optimizer, None, schedule, torch.device("cpu"), on_step=lambda v: losses.extend(v.values())
    )
    engine.run(RoundRobinBatches(batches, cfg.steps), kd_loss)
    student.eval()
    for m in fakes:
        m.freeze()
    n = max(1, len(losses) // 10)  # mean of the first and last tenth: the trend, not one noisy batch
    first, last = (losses[:n], losses[-n:]) if losses else ([0.0], [0.0])
    summary = {
        "steps": cfg.steps,
        "layers": len(fakes),
        "initial_kd_loss": sum(first) / len(first),
        "final_kd_loss": sum(last) / len(last),
    }
    log.info(
        "qat: %d fake-quant Linear layers, %d KD steps, KD loss %.4f → %.4f",
        len(fakes),
        cfg.steps,
        summary["initial_kd_loss"],
        summary["final_kd_loss"],
    )
    return student, summary


def qat_artifact(
    model_dir: Path, target: Path, tasks: dict[str, TaskData], cfg: QatConfig, max_len: int
) -> dict[str, Any]:
    """``target``: the model fine-tuned with fake INT8 by distillation from itself, as a Q/DQ graph."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    train = {name: encode_examples(tokenizer, t.splits["train"], t.kind, max_len) for name, t in tasks.items()}
    kinds = {name: task.kind for name, task in tasks.items()}
    fp32 = MultiTaskModel.from_pretrained(model_dir)
    model, summary = quantization_aware_distill(fp32, train, kinds, tokenizer.pad_token_id, cfg)
    # ORT runs the Q/DQ pairs with integer kernels and fake quant rounds in float: an input landing on a
    # rounding tie moves one step, and a tag logit by 0.05 on the pruned quickstart student; predictions
    # must still agree
    manifest = export_model(model, model_dir, target, tolerance=0.1, min_agreement=0.95)
    settings = {
        "mode": "qat",
        "format": "QDQ",
        "weights": "int8 symmetric, per channel",
        "activations": "int8 symmetric, per tensor, ranges observed then frozen",
        "teacher": "the FP32 model (quantization-aware distillation)",
        **summary,
        "precision": "int8",
    }
    manifest = {**manifest, "precision": "int8", "preset": "qat-int8", "quantization": settings}
    write_json(target / MANIFEST, manifest)
    return manifest
