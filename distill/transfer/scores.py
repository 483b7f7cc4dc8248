"""The teacher's outputs on transfer inputs, scored once, in chunks that survive a kill.

A folder per (teacher, transfer set, data) key holds each task's inputs (``inputs-<task>.jsonl``) and its
scores in chunk files (``<task>-00000.safetensors``, ``chunk_rows`` rows each) written atomically: a killed
run resumes at the first missing chunk and ends with the same tensors as an uninterrupted one. Under
``torchrun`` each process scores every N-th chunk, so scoring a large set scales with the processes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from ..data.examples import Example
from ..io import atomic_path, read_json, write_json
from ..training import distributed

log = logging.getLogger("mtkd")
Scorer = Callable[[str, list[Example]], torch.Tensor]  # (task, inputs) -> the teacher's outputs, one row each
MANIFEST = "manifest.json"


def _write_inputs(path: Path, examples: list[Example]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for ex in examples:
            f.write(json.dumps({"text": ex.text, **({"text_pair": ex.text_pair} if ex.text_pair else {})}) + "\n")


def _chunk(folder: Path, task: str, i: int) -> Path:
    return folder / f"{task}-{i:05d}.safetensors"


def score_transfer(
    scorer: Scorer, inputs: dict[str, list[Example]], folder: Path, key: str, chunk_rows: int = 2048
) -> dict[str, torch.Tensor]:
    """Every task's scores, one row per input, from ``folder`` where chunks are already there and from
    ``scorer`` for the rest (a progress bar in rows per second)."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / MANIFEST
    sizes = {t: len(x) for t, x in inputs.items()}
    if manifest.is_file() and read_json(manifest) != {"key": key, "chunk_rows": chunk_rows, "rows": sizes}:
        raise RuntimeError(f"{folder}: holds scores of another transfer set; remove the folder")
    if distributed.is_main():
        for task, examples in inputs.items():
            if not (folder / f"inputs-{task}.jsonl").is_file():
                _write_inputs(folder / f"inputs-{task}.jsonl", examples)
        write_json(manifest, {"key": key, "chunk_rows": chunk_rows, "rows": sizes})
    jobs = [(t, i) for t, n in sizes.items() for i in range((n + chunk_rows - 1) // chunk_rows)]
    mine = [job for k, job in enumerate(jobs) if k % distributed.world_size() == distributed.rank()]
    todo = [(t, i) for t, i in mine if not _chunk(folder, t, i).is_file()]
    total = sum(len(inputs[t][i * chunk_rows : (i + 1) * chunk_rows]) for t, i in mine)
    left = sum(len(inputs[t][i * chunk_rows : (i + 1) * chunk_rows]) for t, i in todo)
    if todo:
        log.info("transfer: teacher scores %d inputs (%d already scored in %s)", left, total - left, folder)
    bar = tqdm(total=total, initial=total - left, desc="transfer scores", unit="row", disable=None, mininterval=1.0)
    started = time.perf_counter()
    for task, i in todo:
        rows = inputs[task][i * chunk_rows : (i + 1) * chunk_rows]
        scores = scorer(task, rows).float().contiguous()
        if scores.shape[0] != len(rows):
            raise RuntimeError(f"transfer {task}: the teacher gave {scores.shape[0]} rows for {len(rows)} inputs")
        with atomic_path(_chunk(folder, task, i)) as tmp:
            save_file({"scores": scores}, tmp)
        bar.update(len(rows))
    bar.close()
    if todo:
        log.info("transfer: %d inputs scored in %.0f s (%.0f rows/s)", left, time.perf_counter() - started,
                 left / max(time.perf_counter() - started, 1e-9))  # fmt: skip
    distributed.barrier()  # every process's chunks are on disk before any reads them all
    return {t: _load(folder, t, n, chunk_rows) for t, n in sizes.items()}


def _load(folder: Path, task: str, rows: int, chunk_rows: int) -> torch.Tensor:
    parts = [load_file(_chunk(folder, task, i))["scores"] for i in range((rows + chunk_rows - 1) // chunk_rows)]
    return torch.cat(parts) if parts else torch.empty(0, 1)


@torch.no_grad()
def model_scorer(
    model: torch.nn.Module, tokenizer, max_len: int, device: torch.device, batch_size: int = 128
) -> Scorer:
    """A ``Scorer`` running a multi-task model's head (eval mode) at ``max_len``, length-sorted batches."""
    model.eval().to(device)

    def score(task: str, examples: list[Example]) -> torch.Tensor:
        order = sorted(range(len(examples)), key=lambda i: len(examples[i].text) + len(examples[i].text_pair or ""))
        out: list[torch.Tensor | None] = [None] * len(examples)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            texts = [examples[i].text for i in idx]
            pairs = [examples[i].text_pair for i in idx] if examples[idx[0]].text_pair is not None else None
            enc = tokenizer(texts, pairs, truncation=True, max_length=max_len, padding=True, return_tensors="pt")
            inputs = {k: v.to(device) for k, v in enc.items() if k in ("input_ids", "token_type_ids", "attention_mask")}
            logits = model(**inputs, tasks=[task]).logits[task].float().cpu()
            for row, i in enumerate(idx):
                out[i] = logits[row]
        return torch.stack(out)  # type: ignore[arg-type]

    return score


def teachers_scorer(teachers) -> Scorer:
    """A ``Scorer`` asking each brought teacher (``TaskTeachers``) for its task; no answer is a NaN row."""

    def score(task: str, examples: list[Example]) -> torch.Tensor:
        teacher = teachers.teachers[task]
        if not teacher.scores_new_text:
            raise RuntimeError(f"transfer {task}: a file of outputs cannot score new inputs; bring a checkpoint")
        answers = teacher.outputs(examples)
        width = next((a.shape[-1] for a in answers if a is not None), 1)
        return torch.stack([a if a is not None else torch.full((width,), float("nan")) for a in answers])

    return score


def weights_hash(model: torch.nn.Module) -> str:
    """A SHA-256 over a model's parameters and buffers, in name order: names a teacher in a cache key."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]
