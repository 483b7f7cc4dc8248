"""Export a multi-task model to ONNX: every head a flat, named output; parity enforced per head.

The artifact is a directory a runtime can load on its own: ``model.onnx``, the encoder's
``config.json``, ``mtkd.json`` (tasks, labels), the tokenizer files and ``onnx.json`` (inputs,
outputs → tasks, opset, IR version, precision, parity and graph-optimization reports).
"""

from __future__ import annotations

import logging
import shutil
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from distill.errors import ArtifactError
from distill.io import write_json
from distill.model import META, HeadSpec, MultiTaskModel, eager_attention
from distill.tasks import task_type

from .optimize import CPU_DISABLED_OPTIMIZERS

log = logging.getLogger("mtkd")
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OPSET = 17
MAX_IR = 10  # onnx 1.23 writes IR 14 by default; ONNX Runtime 1.31 reads at most IR 13
MANIFEST = "onnx.json"
COPIED = ("config.json", META, "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


class FlatHeads(nn.Module):
    """The model with a tuple of outputs, one per head in ``mtkd.json`` order (ONNX needs a flat list)."""

    def __init__(self, model: MultiTaskModel) -> None:
        super().__init__()
        self.model, self.names = model, list(model.head_specs)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor):
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits
        return tuple(logits[n] for n in self.names)


def sample_inputs(vocab: int, batch: int = 3, seq: int = 24, seed: int = 0) -> dict[str, np.ndarray]:
    """Random token ids with ragged padding, so parity covers masked positions too; every row keeps at least
    two tokens (a fully masked row is degenerate: FP16/INT8 engines may answer it with NaN)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, vocab, size=(batch, seq), dtype=np.int64)
    mask = np.ones_like(ids)
    for row in range(1, batch):
        mask[row, seq - (3 * row) % max(1, seq - 1) :] = 0
    types = np.zeros_like(ids)
    types[:, seq // 2 :] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def torch_outputs(model: MultiTaskModel, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    model.eval()
    with torch.inference_mode():
        out = model(**{k: torch.from_numpy(v) for k, v in inputs.items()}).logits
    return {k: v.float().numpy() for k, v in out.items()}


def parity(
    reference: dict[str, np.ndarray],
    candidate: dict[str, np.ndarray],
    kinds: dict[str, str],
    mask: np.ndarray,
    scales: dict[str, float] | None = None,
) -> dict[str, dict[str, float]]:
    """Per head: max absolute difference and agreement of decoded predictions (on real tokens).

    A standardised regression head (``scales``: its target std) is compared in units of that std,
    so a price head is held to the same relative precision as a 1-3 grade."""
    report = {}
    for task, ref in reference.items():
        got, kind = candidate[task], task_type(kinds[task])
        if kind.per_token:
            keep = mask.astype(bool)
            ref, got = ref[keep], got[keep]
        if scales and task in scales:
            ref, got = ref / scales[task], got / scales[task]
        diff = float(np.abs(ref - got).max())
        if kind.numeric:
            agreement = float(np.mean(np.abs(ref - got) < 0.05))
        elif kind.multi_label:
            agreement = float(np.mean((ref > 0) == (got > 0)))
        else:
            agreement = float(np.mean(ref.argmax(-1) == got.argmax(-1)))
        report[task] = {"max_abs_diff": diff, "agreement": agreement}
    return report


def target_stds(specs: Iterable[HeadSpec]) -> dict[str, float]:
    """The target std of each standardised regression head, by task."""
    return {h.name: h.target_scale[1] for h in specs if h.target_scale}


def output_entry(spec: HeadSpec) -> dict[str, Any]:
    """A head's entry in the ONNX manifest (with its target scale when it has one)."""
    entry = {"task": spec.name, "type": spec.type, "labels": list(spec.labels)}
    if spec.target_scale:
        entry["target_scale"] = list(spec.target_scale)
    return entry


def ort_session(path: Path, threads: int | None = None):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or torch.get_num_threads()
    return ort.InferenceSession(
        str(path), opts, providers=["CPUExecutionProvider"], disabled_optimizers=list(CPU_DISABLED_OPTIMIZERS)
    )


def run_onnx(path: Path, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    session = ort_session(path)
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, inputs), strict=True))


def copy_sidecars(src: Path, dst: Path) -> None:
    """Config, task metadata and tokenizer beside ``model.onnx``: the artifact stands alone."""
    for name in COPIED:
        if (src / name).is_file():
            shutil.copy2(src / name, dst / name)


def export_onnx(model_dir: Path, out_dir: Path, tolerance: float = 1e-4, opset: int = OPSET) -> dict[str, Any]:
    """Export ``model_dir`` to ``out_dir/model.onnx``; raise if any head differs beyond ``tolerance``."""
    return export_model(MultiTaskModel.from_pretrained(model_dir), model_dir, out_dir, tolerance, opset)


def export_model(
    model: MultiTaskModel,
    model_dir: Path,
    out_dir: Path,
    tolerance: float = 1e-4,
    opset: int = OPSET,
    min_agreement: float = 0.0,
) -> dict[str, Any]:
    """Export an in-memory ``model`` (e.g. fake-quantized) with ``model_dir``'s config and tokenizer;
    every head within ``tolerance`` and its decoded predictions agreeing at least ``min_agreement``."""
    model = model.eval()
    kinds = {name: spec.type for name, spec in model.head_specs.items()}
    inputs = sample_inputs(model.config.vocab_size)
    reference = torch_outputs(model, inputs)  # before export: the exporter leaves modules in training mode
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "model.onnx"
    flat = FlatHeads(model)
    axes = {name: {0: "batch", 1: "sequence"} for name in INPUTS}
    for name in flat.names:
        axes[name] = {0: "batch", 1: "sequence"} if task_type(kinds[name]).per_token else {0: "batch"}
    example = tuple(torch.from_numpy(inputs[k][:2, :16]) for k in INPUTS)
    with warnings.catch_warnings(), eager_attention(model.encoder):  # the graph ONNX Runtime's fusions match
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow on shapes
        torch.onnx.export(
            flat,
            example,
            str(path),
            input_names=list(INPUTS),
            output_names=flat.names,
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
            do_constant_folding=True,
        )
    model.eval()
    proto = onnx.load(str(path))
    if proto.ir_version > MAX_IR:
        proto.ir_version = MAX_IR
        onnx.save(proto, str(path))
    onnx.checker.check_model(proto)
    scales = target_stds(model.head_specs.values())
    report = parity(reference, run_onnx(path, inputs), kinds, inputs["attention_mask"], scales)
    worst = max(r["max_abs_diff"] for r in report.values())
    agreement = min(r["agreement"] for r in report.values())
    if worst > tolerance or agreement < min_agreement:
        raise ArtifactError(
            f"{path}: ONNX outputs differ from PyTorch by {worst:.2e} (> {tolerance:g}) or agree on "
            f"{agreement:.1%} of predictions (< {min_agreement:.0%}): {report}"
        )
    copy_sidecars(model_dir, out_dir)
    manifest = {
        "inputs": list(INPUTS),
        "outputs": {n: output_entry(model.head_specs[n]) for n in flat.names},
        "opset": opset,
        "ir_version": int(min(proto.ir_version, MAX_IR)),
        "precision": "fp32",
        "parity_vs_torch": report,
        "source": str(model_dir),
    }
    write_json(out_dir / MANIFEST, manifest)
    log.info("onnx: exported %s (max |Δ| vs torch %.1e over %d heads)", path, worst, len(report))
    return manifest
