"""The HTTP JSON API of ``mtkd serve``, apart from any server: what a request may hold, how it is refused, and
how one server-side batch of requests becomes one answer per input, in order.

A request is ``{"inputs": [...], "tasks": [...]}`` (``tasks`` optional). Each input is a text (a string or
``{"text": ...}``), a pair (``{"text": query, "text_pair": title}``) or pre-split words (``{"words": [...]}``).
A request that is not that shape is refused whole (400 for a body that is not UTF-8 JSON, 413 over the size
limits, 422 for the wrong types, with a message); an input that is well formed but cannot be answered (an
empty text, a pair for a task that takes one text) gets its own ``error`` while the others are answered,
exactly as ``mtkd predict`` answers a line.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from compress.bundle.predictor import Input, Predictor
from distill.errors import MtkdError


@dataclass(frozen=True)
class Limits:
    """What one request may be: its body in bytes and its number of inputs."""

    max_body_bytes: int = 1_000_000
    max_inputs: int = 256


class ApiError(Exception):
    """A request refused whole: its HTTP status and the message a client reads."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Request:
    """One parsed request: its inputs in the Predictor's shapes and the tasks asked for (None: all)."""

    inputs: list[Input]
    tasks: tuple[str, ...] | None = None
    arrived: float = 0.0  # monotonic seconds when the replica received it (queue wait is measured from here)
    answers: list[dict[str, Any]] = field(default_factory=list)


def parse_request(body: bytes, limits: Limits, known_tasks: set[str]) -> Request:
    """The request in ``body``, or an ApiError saying why it is refused."""
    if len(body) > limits.max_body_bytes:
        raise ApiError(413, f"body of {len(body)} bytes: the limit is {limits.max_body_bytes}")
    try:
        payload = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ApiError(400, f"body is not UTF-8: {e.reason} at byte {e.start}") from e
    except json.JSONDecodeError as e:
        raise ApiError(400, f"body is not JSON: {e.msg} at line {e.lineno} column {e.colno}") from e
    if not isinstance(payload, dict) or "inputs" not in payload:
        raise ApiError(422, 'expected an object {"inputs": [...], "tasks": [...]}')
    unknown = set(payload) - {"inputs", "tasks"}
    if unknown:
        raise ApiError(422, f"unknown field(s) {sorted(unknown)}: a request has inputs and tasks")
    raw = payload["inputs"]
    if not isinstance(raw, list) or not raw:
        raise ApiError(422, "inputs must be a non-empty list")
    if len(raw) > limits.max_inputs:
        raise ApiError(413, f"{len(raw)} inputs: at most {limits.max_inputs} per request")
    return Request([_input(x, i) for i, x in enumerate(raw)], _tasks(payload.get("tasks"), known_tasks))


def _input(x: Any, index: int) -> Input:
    if isinstance(x, str):
        return x
    if isinstance(x, dict):
        keys = set(x)
        if keys == {"text"} and isinstance(x["text"], str):
            return x["text"]
        if keys == {"text", "text_pair"} and isinstance(x["text"], str) and isinstance(x["text_pair"], str):
            return x["text"], x["text_pair"]
        if keys == {"words"} and isinstance(x["words"], list) and all(isinstance(w, str) for w in x["words"]):
            return list(x["words"])
    raise ApiError(
        422,
        f"inputs[{index}]: give a string, {{'text': ...}}, {{'text': ..., 'text_pair': ...}} "
        f"or {{'words': [...]}} (strings only), not {json.dumps(x)[:80]}",
    )


def _tasks(raw: Any, known: set[str]) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw or not all(isinstance(t, str) for t in raw):
        raise ApiError(422, "tasks must be a non-empty list of task names")
    unknown = [t for t in raw if t not in known]
    if unknown:
        raise ApiError(422, f"unknown task {unknown[0]!r}; this bundle has {', '.join(sorted(known))}")
    return tuple(raw)


def kind_of(x: Input) -> str:
    return "text" if isinstance(x, str) else "pair" if isinstance(x, tuple) else "tokens"


def answer_batch(predictor: Predictor, requests: list[Request]) -> None:
    """Fill every request's ``answers``: the inputs of the whole batch grouped by shape and tasks, one
    ``Predictor.predict`` call per group (padded to its longest input, as Predictor pads), then given back
    to their requests in order. A group the bundle cannot answer (pairs for a text-only task) gets the
    reason as each of its inputs' ``error``; the other groups are still answered."""
    groups: dict[tuple[str, tuple[str, ...] | None], list[tuple[int, int]]] = defaultdict(list)
    for r, request in enumerate(requests):
        request.answers = [{} for _ in request.inputs]
        for i, x in enumerate(request.inputs):
            groups[kind_of(x), request.tasks].append((r, i))
    for (_, tasks), members in groups.items():
        inputs = [requests[r].inputs[i] for r, i in members]
        try:
            answers = predictor.predict(inputs, tasks)
        except MtkdError as e:
            answers = [{"error": str(e)} for _ in inputs]
        for (r, i), answer in zip(members, answers, strict=True):
            requests[r].answers[i] = answer
