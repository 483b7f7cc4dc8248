"""Noise that keeps the built-in tasks realistic: typos, abbreviations, word order, label flips."""

from __future__ import annotations

import random
from dataclasses import dataclass

ABBREVIATIONS = {
    "black": "blk",
    "white": "wht",
    "stainless": "ss",
    "steel": "stl",
    "pack": "pk",
    "inch": "in",
    "large": "lg",
    "medium": "med",
    "small": "sm",
    "wireless": "wrls",
    "waterproof": "wp",
    "leather": "lthr",
    "adjustable": "adj",
    "for": "4",
    "with": "w/",
    "and": "&",
    "grey": "gray",
    "aluminium": "alu",
    "rechargeable": "rechg",
    "lightweight": "light wt",
    "cotton": "cttn",
}


@dataclass(frozen=True)
class Noise:
    """Probabilities per word (typo, abbreviation), per text (shuffle) and per label (flip)."""

    typo: float = 0.03
    abbreviation: float = 0.15
    shuffle: float = 0.3
    label: float = 0.03


def typo(rng: random.Random, word: str) -> str:
    """One keyboard slip: swap, drop or double a character (words under 4 letters are kept)."""
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1:
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def noisy_word(rng: random.Random, word: str, noise: Noise) -> str:
    """A word after optional abbreviation and optional typo."""
    if word.lower() in ABBREVIATIONS and rng.random() < noise.abbreviation:
        return ABBREVIATIONS[word.lower()]
    if rng.random() < noise.typo:
        return typo(rng, word)
    return word


def noisy_text(rng: random.Random, text: str, noise: Noise) -> str:
    """Apply word-level noise to free text (whitespace-separated)."""
    return " ".join(noisy_word(rng, w, noise) for w in text.split())


def maybe_flip(rng: random.Random, label: str, choices: list[str] | tuple[str, ...], noise: Noise) -> str:
    """Replace the label by a different random one with probability ``noise.label``."""
    if rng.random() < noise.label:
        return rng.choice([c for c in choices if c != label])
    return label
