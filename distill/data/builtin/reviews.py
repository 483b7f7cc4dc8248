"""Product reviews → negative / neutral / positive, with negation and contrast.

Rules a model must learn: a negated positive is negative ("the fit is not great"), a negated
negative is positive ("no problems with the zipper"), and in "X but Y" the clause after "but"
decides ("screen is great but the battery dies by noon" is negative).
"""

from __future__ import annotations

import random

from .catalog import CATEGORIES
from .noise import Noise, maybe_flip, noisy_text

SENTIMENTS = ("negative", "neutral", "positive")
POS_ADJ = ["great", "excellent", "amazing", "solid", "perfect", "fantastic", "impressive", "reliable"]
NEG_ADJ = ["terrible", "awful", "flimsy", "disappointing", "poor", "useless", "cheap feeling", "bad"]
NEU_ADJ = ["okay", "average", "fine", "as described", "acceptable", "standard", "decent enough"]

CLAUSES = {
    "positive": [
        "the {a} is {pos}",
        "love the {a}",
        "the {a} works really well",
        "really happy with the {a}",
        "the {a} exceeded my expectations",
        "no problems with the {a}",
        "the {a} is not {neg} at all",
        "never had an issue with the {a}",
    ],
    "negative": [
        "the {a} is {neg}",
        "hate the {a}",
        "the {a} stopped working after a week",
        "the {a} broke within days",
        "the {a} is not {pos}",
        "the {a} dies by noon",
        "returned it because of the {a}",
        "the {a} never worked properly",
        "would not recommend it, the {a} is {neg}",
    ],
    "neutral": [
        "the {a} is {neu}",
        "nothing special about the {a}",
        "the {a} is what you would expect",
        "the {a} does the job",
        "no strong feelings about the {a}",
    ],
}
FILLERS = [
    "bought this for my son.",
    "arrived on time.",
    "ordered the {p} last month.",
    "second one i bought.",
    "got it on sale.",
    "using it daily.",
    "it was a gift.",
    "the {p} from {b}.",
]
MIX = (0.35, 0.25, 0.4)


def clause(rng: random.Random, polarity: str, aspect: str) -> str:
    return rng.choice(CLAUSES[polarity]).format(
        a=aspect, pos=rng.choice(POS_ADJ), neg=rng.choice(NEG_ADJ), neu=rng.choice(NEU_ADJ)
    )


def review(rng: random.Random, label: str) -> str:
    """A review whose overall sentiment is ``label`` under the rules in the module docstring."""
    cat = rng.choice(CATEGORIES)
    a1, a2 = rng.sample(cat.aspects, 2)
    shape = rng.random()
    if label != "neutral" and shape < 0.35:  # contrast: the second clause decides
        other = rng.choice([p for p in SENTIMENTS if p != label])
        joiner = rng.choice([" but ", ", however ", " but honestly "])
        text = clause(rng, other, a1) + joiner + clause(rng, label, a2)
    elif shape < 0.6:
        text = clause(rng, label, a1) + rng.choice([" and ", ", also ", ". "]) + clause(rng, label, a2)
    else:
        text = clause(rng, label, a1)
    if rng.random() < 0.5:
        filler = rng.choice(FILLERS).format(p=rng.choice(cat.products), b=rng.choice(cat.brands))
        text = f"{filler} {text}" if rng.random() < 0.5 else f"{text}. {filler}"
    return text


def generate(rng: random.Random, size: int, noise: Noise) -> list[dict]:
    """Rows: review, sentiment."""
    rows = []
    for _ in range(size):
        label = rng.choices(SENTIMENTS, weights=MIX)[0]
        rows.append(
            {
                "review": noisy_text(rng, review(rng, label), noise),
                "sentiment": maybe_flip(rng, label, SENTIMENTS, noise),
            }
        )
    return rows
