"""Customer-service messages → intent, paraphrased, with order ids, names and products."""

from __future__ import annotations

import random

from .catalog import sample_product
from .noise import Noise, maybe_flip, noisy_text

TEMPLATES: dict[str, list[str]] = {
    "track_order": [
        "where is my order {o}",
        "can you tell me where order {o} is",
        "my package {o} has not arrived yet, where is it",
        "tracking for {o} has not updated in days",
        "when will the {p} i ordered arrive",
        "status of order {o} please",
    ],
    "request_refund": [
        "i want my money back for {o}",
        "please refund order {o}",
        "how do i get a refund for the {p}",
        "i was promised a refund for {o} and still nothing",
        "refund the {p} to my card please",
    ],
    "return_item": [
        "how do i return the {p}",
        "i need a return label for order {o}",
        "can i send the {p} back",
        "the {p} does not fit, i want to return it",
        "what is the return window for {o}",
    ],
    "cancel_order": [
        "cancel order {o}",
        "please cancel my order {o} before it ships",
        "i changed my mind, cancel the {p}",
        "i do not want order {o} anymore",
        "stop my order {o} please",
    ],
    "change_order": [
        "can i change the size on order {o}",
        "i want to add a {p} to order {o}",
        "swap the colour of the {p} in {o}",
        "modify order {o}, wrong quantity",
        "update the items in my order {o}",
    ],
    "change_address": [
        "i need to change the shipping address for {o}",
        "please ship {o} to {addr} instead",
        "i moved, update my delivery address to {addr}",
        "wrong address on order {o}, it should be {addr}",
    ],
    "get_invoice": [
        "can i get an invoice for order {o}",
        "please send the receipt for {o} to my email",
        "i need a vat invoice for the {p}",
        "where can i download the invoice for {o}",
    ],
    "product_question": [
        "is the {p} waterproof",
        "does the {p} come in other colours",
        "what size should i get for the {p}",
        "is the {p} compatible with my old one",
        "how long does the battery of the {p} last",
    ],
    "complaint": [
        "the {p} arrived broken and nobody answers",
        "worst service ever, order {o} was a mess",
        "i am very unhappy with how my order {o} was handled",
        "your courier was rude and left {o} in the rain",
        "the {p} is not as advertised, this is unacceptable",
    ],
    "payment_issue": [
        "my card was charged twice for {o}",
        "payment failed but the money left my account",
        "why was i charged for order {o} after cancelling",
        "the checkout will not accept my card",
    ],
    "account_access": [
        "i cannot log into my account",
        "reset my password please, my name is {n}",
        "my account is locked after too many attempts",
        "i never got the verification email",
    ],
    "shipping_options": [
        "do you ship to {city}",
        "how much is express delivery",
        "can i get the {p} delivered tomorrow",
        "what shipping options do you have for the {p}",
        "is there free shipping on orders over 50",
    ],
}
INTENTS = tuple(TEMPLATES)
NAMES = ["Maria", "Chen Wei", "John Smith", "Aisha", "Lukas", "Priya", "Tom", "Sofia", "Kenji", "Olu"]
CITIES = ["Berlin", "Lagos", "Toronto", "Osaka", "Lima", "Madrid", "Austin", "Pune"]
STREETS = ["Elm Street", "Market Road", "Park Avenue", "Hill Lane", "King Street"]
OPENERS = ["", "", "hi, ", "hello team, ", "urgent: ", "hey, ", "good morning, ", "hi it is {n}, "]
CLOSERS = ["", "", " thanks", " asap", " thank you", ". regards {n}", " ??", "!"]


def order_id(rng: random.Random) -> str:
    """Order ids in the formats real shops use, so ids carry no intent signal."""
    return rng.choice(
        [
            f"#A{rng.randint(10000, 99999)}",
            f"{rng.randint(1000, 9999)}-{rng.randint(100, 999)}",
            f"ORD-{rng.randint(10000, 99999)}",
            f"no. {rng.randint(100000, 999999)}",
        ]
    )


def message(rng: random.Random, intent: str) -> str:
    p = sample_product(rng)
    slots = {
        "o": order_id(rng),
        "p": p.product,
        "n": rng.choice(NAMES),
        "city": rng.choice(CITIES),
        "addr": f"{rng.randint(1, 200)} {rng.choice(STREETS)}",
    }
    body = rng.choice(TEMPLATES[intent]).format(**slots)
    return (rng.choice(OPENERS) + body + rng.choice(CLOSERS)).format(**slots)


def generate(rng: random.Random, size: int, noise: Noise) -> list[dict]:
    """Rows: message, intent."""
    rows = []
    for _ in range(size):
        intent = rng.choice(INTENTS)
        rows.append(
            {"message": noisy_text(rng, message(rng, intent), noise), "intent": maybe_flip(rng, intent, INTENTS, noise)}
        )
    return rows
