"""Per-word tags (BIO, IOB2 or BIOES) → entity spans, the form a tagging head is consumed in."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """Words ``start`` .. ``end`` (exclusive) form one entity of type ``label``."""

    label: str
    start: int
    end: int


def _split(tag: str) -> tuple[str, str]:
    if tag == "O" or "-" not in tag:
        return "O", ""
    prefix, label = tag.split("-", 1)
    return prefix.upper(), label


def tag_spans(tags: list[str]) -> list[Span]:
    """Entities in a tag sequence, read leniently as a decoder's output must be.

    ``B``/``S`` open an entity; ``I``/``M``/``E`` continue one of the same type (or open one when they
    follow ``O`` or another type, as seqeval does); ``E``/``S`` close it.
    """
    spans: list[Span] = []
    label, start = None, 0
    for i, tag in enumerate(tags):
        prefix, kind = _split(tag)
        if label is not None and (prefix in ("O", "B", "S") or kind != label):
            spans.append(Span(label, start, i))
            label = None
        if prefix == "O":
            continue
        if label is None:
            label, start = kind, i
        if prefix in ("E", "S"):
            spans.append(Span(label, start, i + 1))
            label = None
    if label is not None:
        spans.append(Span(label, start, len(tags)))
    return spans
