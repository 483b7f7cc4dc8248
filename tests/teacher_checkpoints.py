"""Per-task teachers as a user brings them: tiny BERT checkpoints fine-tuned with transformers' own classes
(``BertForSequenceClassification``, ``BertForTokenClassification``) and saved with ``save_pretrained``."""

from __future__ import annotations

import torch
from transformers import BertForSequenceClassification, BertForTokenClassification

from distill.tasks import IGNORE_INDEX
from tests.conftest import tiny_bert_config


def fine_tune(model, batches, steps: int = 12) -> None:
    """What a user's own script does: transformers' model class, its loss, an optimizer."""
    optim = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for step in range(steps):
        loss = model(**batches[step % len(batches)]).loss
        loss.backward()
        optim.step()
        optim.zero_grad()
    model.eval()


def save_sequence_teacher(folder, task, tok, labels=None):
    """A BertForSequenceClassification whose id2label lists the labels reversed (so order matters)."""
    names = list(reversed(task.labels)) if labels is None else labels
    config = tiny_bert_config(len(tok))
    config.num_labels, config.id2label = len(names), dict(enumerate(names))
    config.label2id = {n: i for i, n in enumerate(names)}
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    column = {task.labels.index(n): i for i, n in enumerate(names) if n in task.labels}
    examples = task.splits["train"]
    batches = []
    for s in range(0, 64, 16):
        chunk = examples[s : s + 16]
        enc = tok([ex.text for ex in chunk], truncation=True, max_length=32, padding=True, return_tensors="pt")
        enc["labels"] = torch.tensor([column.get(ex.target, 0) for ex in chunk])
        batches.append(enc)
    fine_tune(model, batches)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return model


def save_token_teacher(folder, task, tok):
    names = list(reversed(task.labels))
    config = tiny_bert_config(len(tok))
    config.num_labels, config.id2label = len(names), dict(enumerate(names))
    torch.manual_seed(0)
    model = BertForTokenClassification(config)
    column = {task.labels.index(n): i for i, n in enumerate(names)}
    batches = []
    for s in range(0, 64, 16):
        chunk = task.splits["train"][s : s + 16]
        enc = tok([ex.text for ex in chunk], is_split_into_words=True, truncation=True, max_length=64, padding=True,
                  return_tensors="pt")  # fmt: skip
        labels = torch.full(enc["input_ids"].shape, IGNORE_INDEX)
        for b, ex in enumerate(chunk):
            prev = None
            for pos, w in enumerate(enc.word_ids(b)):
                if w is not None and w != prev:
                    labels[b, pos] = column[ex.target[w]]
                prev = w
        enc["labels"] = labels
        batches.append(enc)
    fine_tune(model, batches)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return model
