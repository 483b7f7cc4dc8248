"""Generated query–title pairs for a pair task (Augmented SBERT, Thakur et al. 2021): each query of the
training rows with titles of other queries' rows, drawn at random and the nearest by TF-IDF cosine.

The nearest titles are the informative ones: a random title is almost always irrelevant, which the
student learns from the labelled rows already, while a title that shares words with the query is where
the teacher's graded judgement differs from a word match. A query's own titles are never among them.
"""

from __future__ import annotations

import logging
import random

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from tqdm.auto import tqdm

from ..data.examples import Example, TaskData
from .config import GeneratedPairs

log = logging.getLogger("mtkd")


def _catalogue(task: TaskData) -> tuple[list[str], list[str], dict[str, set[int]]]:
    """Distinct queries (training rows), distinct titles (training rows, then rows a cap left out), and
    each query's own titles as title indices."""
    rows = [*task.splits["train"], *task.unused]
    titles = list(dict.fromkeys(str(ex.text_pair) for ex in rows))
    where = {t: i for i, t in enumerate(titles)}
    queries = list(dict.fromkeys(str(ex.text) for ex in task.splits["train"]))
    own: dict[str, set[int]] = {q: set() for q in queries}
    for ex in rows:
        if ex.text in own:
            own[str(ex.text)].add(where[str(ex.text_pair)])
    return queries, titles, own


def nearest_titles(
    queries: list[str], titles: list[str], own: dict[str, set[int]], k: int, chunk: int = 256
) -> list[list[int]]:
    """Per query, the ``k`` titles with the highest TF-IDF cosine (word 1–2 grams fitted on the titles),
    its own titles excluded; fewer where the query shares no word with enough titles."""
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True)
    title_vecs = vectorizer.fit_transform(titles).T.tocsr()
    query_vecs = vectorizer.transform(queries)
    out: list[list[int]] = []
    bar = tqdm(total=len(queries), desc="nearest titles", unit="query", mininterval=1.0, leave=False, disable=None)
    for start in range(0, len(queries), chunk):
        sims = (query_vecs[start : start + chunk] @ title_vecs).toarray()
        for row, q in enumerate(queries[start : start + chunk]):
            s = sims[row]
            s[list(own[q])] = -1.0
            top = np.argpartition(-s, min(k, len(s) - 1))[:k] if k < len(s) else np.arange(len(s))
            top = sorted(top.tolist(), key=lambda i: (-s[i], i))
            out.append([i for i in top if s[i] > 0][:k])
        bar.update(len(sims))
    bar.close()
    return out


def generated_pairs(task: TaskData, cfg: GeneratedPairs, seed: int) -> list[Example]:
    """The pairs ``cfg`` asks for, query by query: its nearest titles, then its random ones."""
    rng = random.Random(f"pairs:{seed}:{task.name}")
    queries, titles, own = _catalogue(task)
    if cfg.max_queries is not None and len(queries) > cfg.max_queries:
        queries = sorted(rng.sample(queries, cfg.max_queries), key=queries.index)
    near = nearest_titles(queries, titles, own, cfg.nearest) if cfg.nearest else [[] for _ in queries]
    out = []
    for q, close in zip(queries, near, strict=True):
        taken = own[q] | set(close)
        drawn: list[int] = []
        for _ in range(cfg.random * 4):  # a few tries: a query rarely owns many titles
            if len(drawn) == cfg.random or len(taken) >= len(titles):
                break
            i = rng.randrange(len(titles))
            if i not in taken:
                drawn.append(i)
                taken.add(i)
        out += [Example(q, None, titles[i]) for i in [*close, *drawn]]
    log.info(
        "transfer %s: %d generated pairs over %d queries and %d titles", task.name, len(out), len(queries), len(titles)
    )
    return out
