"""The built-in synthetic e-commerce corpus: seeded, deterministic, no download.

Tables and their columns:
- ``products``: title, category, tokens, tags, brand, price
- ``queries``: query, title, esci, score, query_id
- ``reviews``: review, sentiment
- ``messages``: message, intent
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable

from . import messages, products, queries, reviews
from .noise import Noise

CORPUS_VERSION = 1  # bump when a generator changes, so stages that read it re-run

TABLES: dict[str, tuple[Callable[[random.Random, int, Noise], list[dict]], int, tuple[str, ...]]] = {
    # name: (generator, default size, columns)
    "products": (products.generate, 6000, ("title", "category", "tokens", "tags", "brand", "price")),
    "queries": (queries.generate, 6000, ("query", "title", "esci", "score", "query_id")),
    "reviews": (reviews.generate, 5000, ("review", "sentiment")),
    "messages": (messages.generate, 4000, ("message", "intent")),
}


def table_for_columns(columns: set[str]) -> list[str]:
    """Names of the tables that have every one of ``columns``."""
    return [name for name, (_, _, cols) in TABLES.items() if columns <= set(cols)]


def generate_table(table: str, size: int | None = None, seed: int = 0, noise: Noise | None = None) -> list[dict]:
    """Rows of a built-in table; the same (table, size, seed, noise) always gives the same rows."""
    gen, default_size, _ = TABLES[table]
    rng = random.Random(zlib.crc32(f"{table}:{seed}".encode()))
    return gen(rng, size or default_size, noise or Noise())
