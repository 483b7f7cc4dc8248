"""Product titles with their category and BIO attribute tags (BRAND, COLOR, SIZE, MATERIAL)."""

from __future__ import annotations

import random

from .catalog import CATEGORIES, Product, sample_product
from .noise import Noise, maybe_flip, noisy_word

FILLERS = [
    "new",
    "2025",
    "for men",
    "for women",
    "gift",
    "free shipping",
    "best seller",
    "with box",
    "original",
    "set",
    "sale",
    "limited edition",
    "-",
    "|",
]

CATEGORY_NAMES = [c.name for c in CATEGORIES]


def title_parts(rng: random.Random, p: Product, noise: Noise) -> list[tuple[str, str | None]]:
    """Title fragments with their attribute tag, in one of several marketplace word orders."""
    core: list[tuple[str, str | None]] = [(p.brand, "BRAND")]
    head = [(p.adjective, None)] if rng.random() < 0.6 else []
    if rng.random() < 0.7:
        head.append((p.material, "MATERIAL"))
    if rng.random() < 0.35:
        head.insert(0, (p.color, "COLOR"))
        tail_color = False
    else:
        tail_color = rng.random() < 0.8
    tail: list[tuple[str, str | None]] = []
    if rng.random() < 0.7:
        tail.append((p.size, "SIZE"))
    if tail_color:
        tail.append((p.color, "COLOR"))
    if rng.random() < noise.shuffle:
        rng.shuffle(tail)
        if rng.random() < 0.5:  # brand moved to the end, as some sellers write it
            core, tail = [], [*tail, ("by", None), (p.brand, "BRAND")]
    parts = core + head + [(p.product, None)]
    if tail and rng.random() < 0.5:
        parts.append((rng.choice(["-", "|"]), None))
    parts += tail
    if rng.random() < 0.4:
        parts.insert(rng.randrange(len(parts) + 1), (rng.choice(FILLERS), None))
    return parts


def tag_words(parts: list[tuple[str, str | None]], rng: random.Random, noise: Noise) -> tuple[list[str], list[str]]:
    """Split fragments into words with BIO tags; noise changes words but never their tags."""
    tokens, tags = [], []
    for text, tag in parts:
        for i, word in enumerate(text.split()):
            tokens.append(noisy_word(rng, word, noise))
            tags.append("O" if tag is None else f"{'B' if i == 0 else 'I'}-{tag}")
    return tokens, tags


def generate(rng: random.Random, size: int, noise: Noise) -> list[dict]:
    """Rows: title, category, tokens, tags, brand, price."""
    rows = []
    for _ in range(size):
        p = sample_product(rng)
        tokens, tags = tag_words(title_parts(rng, p, noise), rng, noise)
        rows.append(
            {
                "title": " ".join(tokens),
                "category": maybe_flip(rng, p.category, CATEGORY_NAMES, noise),
                "tokens": tokens,
                "tags": tags,
                "brand": p.brand,
                "price": p.price,
            }
        )
    return rows
