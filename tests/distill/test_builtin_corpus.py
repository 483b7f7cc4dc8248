"""The built-in corpus: deterministic, varied, correctly tagged, and following its own rules."""

from __future__ import annotations

import random

from distill.data.builtin import TABLES, generate_table
from distill.data.builtin.catalog import CATEGORIES
from distill.data.builtin.messages import INTENTS
from distill.data.builtin.noise import Noise, maybe_flip
from distill.data.builtin.reviews import review


def test_same_seed_same_rows_and_other_seed_other_rows():
    for table in TABLES:
        assert generate_table(table, 50, seed=3) == generate_table(table, 50, seed=3)
        assert generate_table(table, 50, seed=3) != generate_table(table, 50, seed=4)


def test_catalog_and_intents_are_rich_enough():
    assert len(CATEGORIES) >= 10
    assert all(len(c.brands) >= 5 and c.materials and c.products for c in CATEGORIES)
    assert len(INTENTS) >= 10
    rows = generate_table("messages", 600)
    assert {r["intent"] for r in rows} == set(INTENTS)


def test_tags_are_valid_bio_aligned_with_tokens():
    rows = generate_table("products", 500)
    seen = set()
    for r in rows:
        assert len(r["tokens"]) == len(r["tags"]) and r["title"] == " ".join(r["tokens"])
        prev = "O"
        for tag in r["tags"]:
            if tag.startswith("I-"):
                assert prev[2:] == tag[2:], r  # an inside tag continues the same entity
            prev = tag
            seen.add(tag[2:] if tag != "O" else "O")
    assert seen == {"O", "BRAND", "COLOR", "SIZE", "MATERIAL"}


def test_label_noise_flips_at_the_requested_rate_and_always_to_another_label():
    rng = random.Random(1)
    labels = ("a", "b", "c")
    out = [maybe_flip(rng, "a", labels, Noise(label=0.2)) for _ in range(5000)]
    rate = sum(x != "a" for x in out) / len(out)
    assert 0.17 < rate < 0.23
    assert all(maybe_flip(rng, "a", labels, Noise(label=0.0)) == "a" for _ in range(100))


def test_contrast_reviews_follow_the_clause_after_but():
    rng = random.Random(0)
    texts = [review(rng, "negative") for _ in range(300)]
    contrast = [t for t in texts if " but " in t or ", however " in t]
    assert contrast, "contrast reviews should be generated"
    # in a negative contrast review the first clause is the other polarity, so positive words appear too
    assert any(w in t for t in contrast for w in ("great", "love", "happy", "excellent", "no problems", "perfect"))


def test_queries_cover_all_esci_labels_and_scores_follow_labels():
    rows = generate_table("queries", 2000, noise=Noise(label=0.0))
    by_label: dict[str, list[float]] = {}
    for r in rows:
        by_label.setdefault(r["esci"], []).append(r["score"])
        assert 0.0 <= r["score"] <= 3.0
    means = {k: sum(v) / len(v) for k, v in by_label.items()}
    assert set(means) == {"exact", "substitute", "complement", "irrelevant"}
    assert means["exact"] > means["substitute"] > means["complement"] > means["irrelevant"]
