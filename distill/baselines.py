"""Classical baselines on the very splits the teacher sees: what a CPU-bound user would ship instead.

Texts: TF-IDF over word 1–2-grams and character 1–3-grams (character n-grams carry Chinese, which
has no spaces), then logistic regression (classes), one-vs-rest logistic regression (multi-label)
or ridge (scores). Text pairs add the two texts' own TF-IDF and their cosine similarity. Tags: a
linear-chain CRF (CRFsuite) over a window of characters/words around each token.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pycrfsuite
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import FeatureUnion
from sklearn.preprocessing import normalize

from .data.examples import TaskData
from .registry import Registry
from .training.evaluate import score_predictions

log = logging.getLogger("mtkd")
MAX_FEATURES = 200_000
Predictor = Callable[[TaskData, str], list[Any]]  # (task, split) -> predictions in target encoding
# one classical model per label kind; a new task type registers how its baseline is trained
BASELINES: Registry[Callable[[TaskData], Predictor]] = Registry("classical baseline")


def _vectorizer() -> FeatureUnion:
    return FeatureUnion(
        [
            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, max_features=MAX_FEATURES)),
            (
                "chars",
                TfidfVectorizer(
                    analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, min_df=2, max_features=MAX_FEATURES
                ),
            ),
        ]
    )


class TextFeatures:
    """TF-IDF of the text; for pairs also of the second text and the pair's cosine similarity."""

    def __init__(self, task: TaskData) -> None:
        train = task.splits["train"]
        self.pair = bool(train) and train[0].text_pair is not None
        self.first = _vectorizer().fit([ex.text for ex in train])
        self.second = _vectorizer().fit([ex.text_pair for ex in train]) if self.pair else None
        self.shared = (
            _vectorizer().fit([ex.text for ex in train] + [ex.text_pair for ex in train]) if self.pair else None
        )

    def __call__(self, examples) -> sparse.csr_matrix:
        a = self.first.transform([ex.text for ex in examples])
        if not self.pair:
            return a.tocsr()
        b = self.second.transform([ex.text_pair for ex in examples])
        qa = normalize(self.shared.transform([ex.text for ex in examples]))
        qb = normalize(self.shared.transform([ex.text_pair for ex in examples]))
        cosine = sparse.csr_matrix(np.asarray(qa.multiply(qb).sum(axis=1)))
        return sparse.hstack([a, b, cosine]).tocsr()


def _fit_linear(task: TaskData, model, encode_target: Callable[[list[Any]], Any], decode: Callable) -> Predictor:
    features = TextFeatures(task)
    train = task.splits["train"]
    model.fit(features(train), encode_target([ex.target for ex in train]))
    return lambda t, split: decode(model.predict(features(t.splits[split])))


@BASELINES.register("class")
def _classes(task: TaskData) -> Predictor:
    model = LogisticRegression(C=10.0, max_iter=2000)
    return _fit_linear(task, model, np.asarray, lambda p: [int(x) for x in p])


@BASELINES.register("classes")
def _multilabel(task: TaskData) -> Predictor:
    model = OneVsRestClassifier(LogisticRegression(C=10.0, max_iter=2000))
    return _fit_linear(task, model, np.asarray, lambda p: np.asarray(p).astype(int).tolist())


@BASELINES.register("score")
def _scores(task: TaskData) -> Predictor:
    return _fit_linear(task, Ridge(alpha=3.0), lambda y: np.asarray(y, dtype=float), lambda p: [float(x) for x in p])


def token_features(words: list[str], i: int) -> list[str]:
    """The word, its shape and its neighbours up to two away (with bigrams around it)."""
    w = words[i].lower()
    feats = [f"w={w}", f"digit={w.isdigit()}", f"alpha={w.isascii() and w.isalpha()}", f"upper={words[i].isupper()}"]
    for d in (-2, -1, 1, 2):
        j = i + d
        feats.append(f"w[{d}]={words[j].lower() if 0 <= j < len(words) else '<pad>'}")
    if i > 0:
        feats.append(f"bi[-1]={words[i - 1].lower()}|{w}")
    if i + 1 < len(words):
        feats.append(f"bi[+1]={w}|{words[i + 1].lower()}")
    return feats


@BASELINES.register("tags")
def _tags(task: TaskData) -> Predictor:
    trainer = pycrfsuite.Trainer(verbose=False)
    for ex in task.splits["train"]:
        trainer.append([token_features(ex.text, i) for i in range(len(ex.text))], [task.labels[t] for t in ex.target])
    trainer.set_params({"c1": 0.05, "c2": 0.01, "max_iterations": 150, "feature.possible_transitions": True})
    index = {name: i for i, name in enumerate(task.labels)}
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "crf.model")
        trainer.train(path)
        tagger = pycrfsuite.Tagger()
        tagger.open(path)  # CRFsuite maps the file; predictions below run while it still exists

        def predict(t: TaskData, split: str) -> list[Any]:
            return [
                [index[tag] for tag in tagger.tag([token_features(ex.text, i) for i in range(len(ex.text))])]
                for ex in t.splits[split]
            ]

        return _materialised(task, predict)


def _materialised(task: TaskData, predict: Predictor) -> Predictor:
    """Predictions of every split computed now (a CRF tagger reads a temporary file)."""
    done = {split: predict(task, split) for split in ("dev", "test")}
    return lambda t, split: done[split]


def run_baselines(tasks: dict[str, TaskData], split: str = "test") -> dict[str, dict[str, Any]]:
    """Train each task's classical baseline on its training split; metrics on ``split``."""
    out = {}
    for name, task in tasks.items():
        started = time.perf_counter()
        predictor = BASELINES.get(task.kind.label_kind)(task)
        metrics = score_predictions(task, split, predictor(task, split))
        metrics["seconds"] = round(time.perf_counter() - started, 1)
        log.info("baseline %s: %s %.4f (%.0f s)", name, metrics["metric"], metrics["value"], metrics["seconds"])
        out[name] = metrics
    return out
