"""Constrained decoding of tag sequences: the best *valid* BIO / BIOES path (Viterbi).

Per-word argmax can emit sequences no scheme allows (``I-BRAND`` after ``O``, ``B-X`` never closed
by ``E-X``); strict entity scoring (seqeval) and span extraction drop every such entity. Viterbi
over the word-level log-probabilities with the scheme's transitions keeps the most probable
sequence that is well formed, so a tagger's near-misses still count.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def tag_scheme(labels: list[str]) -> str | None:
    """ "BIOES", "BIO", or None when the labels follow neither (then decoding stays per word)."""
    prefixes = {label.split("-", 1)[0] for label in labels if label != "O"}
    if not prefixes or not all("-" in label for label in labels if label != "O"):
        return None
    if prefixes <= {"B", "I", "E", "S"} and prefixes & {"E", "S"}:
        return "BIOES"
    return "BIO" if prefixes <= {"B", "I"} else None


def transitions(labels: list[str], scheme: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Allowed (start, pairwise, end) transitions as boolean arrays over ``labels``."""
    parts = [(label, None) if label == "O" else tuple(label.split("-", 1)) for label in labels]
    n = len(labels)
    start, end, pair = np.ones(n, bool), np.ones(n, bool), np.ones((n, n), bool)
    for j, (p, t) in enumerate(parts):
        inside = p in ("I", "E")  # continues an open entity
        start[j] = not inside
        if scheme == "BIOES":
            end[j] = p in ("O", "E", "S")
        for i, (q, u) in enumerate(parts):
            opened = q in ("B", "I")  # entity still open after label i
            if scheme == "BIOES":
                pair[i, j] = (inside and opened and t == u) or (not inside and not opened)
            else:  # BIO: an I continues a B or I of its type; anything else may follow anything
                pair[i, j] = not inside or (opened and t == u)
    return start, pair, end


def viterbi(log_probs: np.ndarray, allowed: tuple[np.ndarray, np.ndarray, np.ndarray]) -> list[int]:
    """The highest-scoring label sequence using only allowed transitions (``log_probs``: words × labels)."""
    start, pair, end = allowed
    n_words = len(log_probs)
    if n_words == 0:
        return []
    blocked = -1e9
    score = np.where(start, log_probs[0], blocked)
    back = np.zeros((n_words, log_probs.shape[1]), dtype=np.int64)
    step = np.where(pair, 0.0, blocked)
    for w in range(1, n_words):
        total = score[:, None] + step  # previous label × next label
        back[w] = total.argmax(0)
        score = total.max(0) + log_probs[w]
    last = int(np.where(end, score, blocked).argmax())
    path = [last]
    for w in range(n_words - 1, 0, -1):
        path.append(int(back[w, path[-1]]))
    return path[::-1]


def first_subtokens(word_ids: list[int | None], n_words: int) -> list[int | None]:
    """The position of each word's first sub-token (None for words cut by truncation)."""
    first: list[int | None] = [None] * n_words
    prev = None
    for pos, w in enumerate(word_ids):
        if w is not None and w != prev and w < n_words:
            first[w] = pos
        prev = w
    return first


@lru_cache(maxsize=64)
def _allowed(labels: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    scheme = tag_scheme(list(labels))
    return transitions(list(labels), scheme) if scheme else None


def decode_words(token_log_probs: np.ndarray, word_ids: list[int | None], n_words: int, labels: list[str]) -> list[int]:
    """Word-level tag ids from sub-token log-probabilities (each word read at its first sub-token): the
    best valid path under the labels' scheme, per-word argmax when they follow none. Words cut by
    truncation are "O" (certain), as the model never saw them."""
    outside = labels.index("O") if "O" in labels else 0
    words = np.full((n_words, len(labels)), -1e4, dtype=np.float64)
    words[:, outside] = 0.0
    for w, pos in enumerate(first_subtokens(word_ids, n_words)):
        if pos is not None:
            words[w] = token_log_probs[pos]
    allowed = _allowed(tuple(labels))
    return viterbi(words, allowed) if allowed is not None else words.argmax(1).tolist()
