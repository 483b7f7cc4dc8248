"""``Predictor``: load a bundle (checksums first), tokenize like training did, decode every head.

Inputs come in three shapes, one per call: strings (text tasks, and tag tasks with character
offsets), ``(query, title)`` tuples (pair tasks) and lists of words (tag tasks on pre-split text).
A call is safe from many threads: tokenization is serialized (a fast tokenizer's truncation state
is shared), inference runs concurrently (ONNX Runtime sessions are thread-safe).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoTokenizer

from compress.runtime.base import RUNTIMES, Backend
from distill.decoding import decode_words, first_subtokens
from distill.errors import ArtifactError, MtkdError
from distill.io import sha256_file
from distill.tasks import task_type

from .manifest import BundleManifest
from .spans import tag_spans

Input = str | tuple[str, str] | list[str]
WHITESPACE_WORD = re.compile(r"\S+")


def verify_bundle(root: Path, manifest: BundleManifest) -> None:
    """Refuse a bundle whose files are missing, truncated or altered, naming the file."""
    for rel, expected in manifest.files.items():
        path = root / rel
        if not path.is_file():
            raise ArtifactError(f"{path}: missing from the bundle; export the bundle again")
        if sha256_file(path) != expected:
            raise ArtifactError(f"{path}: SHA-256 differs from bundle.json (truncated or altered); refusing to load")


def unusable(x: Any) -> str | None:
    """Why one input cannot be predicted on (answered as that input's ``error``), or None."""
    if isinstance(x, str):
        return None if x.strip() else "empty input: nothing to predict on"
    if isinstance(x, tuple) and len(x) == 2 and all(isinstance(s, str) for s in x):
        return None if all(s.strip() for s in x) else "a pair with an empty text: nothing to predict on"
    if isinstance(x, list) and all(isinstance(s, str) for s in x):
        return None if any(s.strip() for s in x) else "no words: nothing to predict on"
    return f"cannot predict on {x!r:.80}: give a string, a (query, title) tuple or a list of words"


def without_surrogates(x: Input) -> Input:
    """Lone UTF-16 surrogates (from a mis-decoded request) become U+FFFD: the tokenizer refuses them."""

    def clean(text: str) -> str:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")

    if isinstance(x, str):
        return clean(x)
    return (clean(x[0]), clean(x[1])) if isinstance(x, tuple) else [clean(w) for w in x]


def input_kind(inputs: Sequence[Input]) -> str:
    """``text``, ``pair`` or ``tokens``: the one shape every input of a call must share."""
    kinds = {"text" if isinstance(x, str) else "pair" if isinstance(x, tuple) else "tokens" for x in inputs}
    if len(kinds) != 1:
        raise MtkdError(f"mixed input shapes in one call ({', '.join(sorted(kinds))}); call once per shape")
    return kinds.pop()


def split_words(text: str, mode: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Words of a raw text as the tagger was trained on them, with their character offsets."""
    if mode == "chars":
        spans = [(i, i + 1) for i, ch in enumerate(text) if not ch.isspace()]
    else:
        spans = [m.span() for m in WHITESPACE_WORD.finditer(text)]
    return [text[a:b] for a, b in spans], spans


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def rounded(labels: list[str], probs: np.ndarray) -> dict[str, float]:
    """Label → probability, six decimals (JSON-friendly)."""
    return {lab: round(float(p), 6) for lab, p in zip(labels, probs, strict=True)}


class Predictor:
    """A loaded bundle: ``predict`` maps inputs to per-task labels, scores and entity spans."""

    def __init__(self, root: Path, manifest: BundleManifest, backend: Backend, batch_size: int = 32) -> None:
        self.root, self.manifest, self.backend, self.batch_size = root, manifest, backend, batch_size
        self.tasks = {t["name"]: t for t in manifest.tasks}
        self.max_len = manifest.max_len
        self.tokenizer = AutoTokenizer.from_pretrained(root)
        self._tokenize_lock = threading.Lock()

    @classmethod
    def load(
        cls, bundle: str | Path, runtime: str = "auto", device: str | None = None, batch_size: int = 32
    ) -> Predictor:
        """Verify ``bundle``'s checksums, then load it on ``runtime`` (``auto``: the one it was built for) and
        ``device`` (default: the one it was exported for, ``cpu`` for bundles that do not say)."""
        root = Path(bundle)
        manifest = BundleManifest.read(root)
        verify_bundle(root, manifest)
        device = device or manifest.device
        name = manifest.runtime if runtime == "auto" else runtime
        backend_cls = RUNTIMES.get(name)
        reason = backend_cls.unavailable(root, manifest.precision, device)
        if reason:
            raise MtkdError(f"runtime {name} cannot serve {root} here: {reason}")
        return cls(root, manifest, backend_cls(root, manifest.precision, device, max_batch=batch_size), batch_size)

    def tasks_for(self, kind: str, tasks: Sequence[str] | None) -> list[str]:
        """The requested tasks (default: all) that take inputs of shape ``kind``."""
        takes = {n for n, t in self.tasks.items() if t["input"] == kind or (kind == "text" and t["input"] == "tokens")}
        if tasks is None:
            if not takes:
                raise MtkdError(f"no task of this bundle takes {kind} inputs (tasks: {self._describe()})")
            return [n for n in self.tasks if n in takes]
        for name in tasks:
            if name not in self.tasks:
                raise MtkdError(f"unknown task {name!r}; this bundle has {self._describe()}")
            if name not in takes:
                raise MtkdError(f"task {name} takes {self.tasks[name]['input']} inputs, not {kind}")
        return list(tasks)

    def _describe(self) -> str:
        return ", ".join(f"{n} ({t['input']})" for n, t in self.tasks.items())

    def _encode(self, first: list, second: list | None = None, words: bool = False) -> tuple[dict, Any]:
        with self._tokenize_lock:
            enc = self.tokenizer(
                first,
                second,
                is_split_into_words=words,
                truncation=True,
                max_length=self.max_len,
                padding=True,
                return_tensors="np",
            )
        batch = {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask")}
        types = enc.get("token_type_ids")
        batch["token_type_ids"] = types.astype(np.int64) if types is not None else np.zeros_like(batch["input_ids"])
        return batch, enc

    def predict(self, inputs: Sequence[Input], tasks: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Per input, per task: ``label``/``score``/``probabilities``, ``value`` (regression),
        ``labels`` (multi-label) or ``tags`` and ``entities`` (tag heads). An input that cannot be predicted
        on (empty, not a text, a pair or a word list) is answered ``{"error": why}``; the others still are."""
        inputs = list(inputs)
        results: list[dict[str, Any]] = [{} for _ in inputs]
        usable = []
        for i, x in enumerate(inputs):
            problem = unusable(x)
            if problem:
                results[i]["error"] = problem
            else:
                usable.append(i)
        if not usable:
            return results
        batch_inputs = [without_surrogates(inputs[i]) for i in usable]
        kind = input_kind(batch_inputs)
        chosen = self.tasks_for(kind, tasks)
        answers: list[dict[str, Any]] = [{} for _ in batch_inputs]
        for start in range(0, len(batch_inputs), self.batch_size):
            chunk = batch_inputs[start : start + self.batch_size]
            out = answers[start : start + self.batch_size]
            sequence_tasks = [t for t in chosen if self.tasks[t]["input"] != "tokens"]
            if sequence_tasks:
                first = [x[0] for x in chunk] if kind == "pair" else chunk
                second = [x[1] for x in chunk] if kind == "pair" else None
                batch, _ = self._encode(first, second)
                self._decode_sequences(self.backend(batch), sequence_tasks, out)
            for task in (t for t in chosen if self.tasks[t]["input"] == "tokens"):
                self._predict_tags(chunk, kind, task, out)
        for i, answer in zip(usable, answers, strict=True):
            results[i] = answer
        return results

    def _decode_sequences(self, logits: dict[str, np.ndarray], tasks: list[str], out: list[dict]) -> None:
        for name in tasks:
            spec, raw = self.tasks[name], logits[name]
            kind = task_type(spec["type"])
            decoded = kind.decode(torch.from_numpy(raw))
            for row, pred in enumerate(decoded):
                if kind.numeric:
                    out[row][name] = {"value": float(pred)}
                elif kind.multi_label:
                    probs = 1 / (1 + np.exp(-raw[row]))
                    out[row][name] = {
                        "labels": [lab for lab, on in zip(spec["labels"], pred, strict=True) if on],
                        "probabilities": {
                            lab: round(float(p), 6) for lab, p in zip(spec["labels"], probs, strict=True)
                        },
                    }
                else:
                    probs = softmax(raw[row])
                    out[row][name] = {
                        "label": spec["labels"][pred],
                        "score": float(probs[pred]),
                        "probabilities": {
                            lab: round(float(p), 6) for lab, p in zip(spec["labels"], probs, strict=True)
                        },
                    }

    def _predict_tags(self, chunk: list, kind: str, name: str, out: list[dict]) -> None:
        spec = self.tasks[name]
        if kind == "tokens":
            words, offsets = chunk, [None] * len(chunk)
        else:
            pairs = [split_words(text, spec.get("words", "whitespace")) for text in chunk]
            words, offsets = [w for w, _ in pairs], [o for _, o in pairs]
        unk = self.tokenizer.unk_token  # a whitespace-only word would vanish and shift alignment (as in training)
        safe = [[w if w.strip() else unk for w in ws] or [unk] for ws in words]
        batch, enc = self._encode(safe, words=True)
        probs = softmax(self.backend(batch)[name])
        log_probs = np.log(np.clip(probs, 1e-30, None))
        labels = spec["labels"]
        sep = "" if spec.get("words") == "chars" else " "
        for row, ws in enumerate(words):
            if not ws:
                out[row][name] = {"tags": [], "entities": []}
                continue
            word_ids = enc.word_ids(row)
            tag_ids = decode_words(log_probs[row], word_ids, len(ws), labels)  # as evaluation decodes
            first = first_subtokens(word_ids, len(ws))
            word_prob = [1.0 if p is None else float(probs[row, p, t]) for p, t in zip(first, tag_ids, strict=True)]
            tags = [labels[i] for i in tag_ids]
            entities = []
            for span in tag_spans(tags):
                entity: dict[str, Any] = {
                    "type": span.label,
                    "words": [span.start, span.end],
                    "score": float(np.mean(word_prob[span.start : span.end])),
                }
                if offsets[row] is not None:
                    a, b = offsets[row][span.start][0], offsets[row][span.end - 1][1]
                    entity.update(start=a, end=b, text=chunk[row][a:b])
                else:
                    entity["text"] = sep.join(ws[span.start : span.end])
                entities.append(entity)
            seen = [w for w in word_ids if w is not None]
            cut = not seen or max(seen) + 1 < len(ws)  # words past max_len were not seen: tagged O
            out[row][name] = {"tags": tags, "entities": entities, **({"truncated": True} if cut else {})}
