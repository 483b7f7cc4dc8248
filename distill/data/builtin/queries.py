"""Shopping queries paired with product titles, labelled as in ESCI (exact, substitute,
complement, irrelevant) with a graded 0–3 relevance score from noisy 'raters'."""

from __future__ import annotations

import random
from dataclasses import replace

from .catalog import CATEGORIES, CATEGORY_BY_NAME, COLORS, SIZE_KINDS, Product, sample_product
from .noise import Noise, maybe_flip, noisy_text
from .products import tag_words, title_parts

ESCI = ("exact", "substitute", "complement", "irrelevant")
SCORE = {"exact": 3.0, "substitute": 2.0, "complement": 1.0, "irrelevant": 0.0}
LABEL_MIX = (0.4, 0.25, 0.15, 0.2)
QUERY_FIELDS = ("brand", "color", "size", "material")


def make_query(rng: random.Random, target: Product, noise: Noise) -> tuple[str, list[str]]:
    """A query naming the product type and 1–2 attributes of ``target``; returns the fields used."""
    fields = rng.sample(QUERY_FIELDS, k=rng.choice((1, 1, 2)))
    words = {f: getattr(target, f) for f in fields}
    pieces = [words.get("brand"), words.get("color"), words.get("material"), target.product, words.get("size")]
    if rng.random() < noise.shuffle:
        pieces = [words.get("brand"), target.product, words.get("color"), words.get("material"), words.get("size")]
    query = " ".join(p for p in pieces if p)
    if rng.random() < 0.15:
        query = rng.choice(["cheap ", "best ", "buy ", ""]) + query
    return noisy_text(rng, query.lower(), noise), fields


def _different(rng: random.Random, value: str, pool: list[str] | tuple[str, ...]) -> str:
    return rng.choice([v for v in pool if v != value])


def candidate(rng: random.Random, target: Product, fields: list[str], label: str) -> Product:
    """A catalog product standing in the ESCI relation ``label`` to the query for ``target``."""
    cat = CATEGORY_BY_NAME[target.category]
    fresh = sample_product(rng, cat, target.product)
    if label == "exact":
        return replace(fresh, **{f: getattr(target, f) for f in fields})
    if label == "substitute":
        same = replace(fresh, **{f: getattr(target, f) for f in fields})
        wrong = rng.choice(fields)
        pools = {"brand": cat.brands, "color": COLORS, "size": SIZE_KINDS[cat.sizes], "material": cat.materials}
        return replace(same, **{wrong: _different(rng, getattr(target, wrong), pools[wrong])})
    if label == "complement":
        options = cat.complements.get(target.product) or tuple(p for p in cat.products if p != target.product)
        return sample_product(rng, cat, rng.choice(options))
    other = rng.choice([c for c in CATEGORIES if c.name != cat.name])
    return sample_product(rng, other)


def generate(rng: random.Random, size: int, noise: Noise) -> list[dict]:
    """Rows: query, title, esci, score, query_id (queries repeat across several candidates)."""
    rows = []
    while len(rows) < size:
        target = sample_product(rng)
        query, fields = make_query(rng, target, noise)
        qid = f"q{len(rows):06d}"
        for _ in range(rng.randint(1, 4)):
            label = rng.choices(ESCI, weights=LABEL_MIX)[0]
            product = candidate(rng, target, fields, label)
            tokens, _ = tag_words(title_parts(rng, product, noise), rng, noise)
            raters = [SCORE[label] + rng.gauss(0, 0.6) for _ in range(3)]
            score = min(3.0, max(0.0, sum(raters) / 3))
            rows.append(
                {
                    "query": query,
                    "title": " ".join(tokens),
                    "esci": maybe_flip(rng, label, ESCI, noise),
                    "score": round(score, 2),
                    "query_id": qid,
                }
            )
    return rows[:size]
