"""The serve API apart from any server: what a request may hold, how it is refused, and how a batch of requests
becomes one answer per input, in order (fast: no Ray)."""

from __future__ import annotations

import json

import pytest

from compress.serve.api import ApiError, Limits, Request, answer_batch, parse_request
from distill.errors import MtkdError

TASKS = {"category", "attributes"}


def refused(body: bytes, limits: Limits | None = None) -> tuple[int, str]:
    with pytest.raises(ApiError) as e:
        parse_request(body, limits or Limits(), TASKS)
    return e.value.status, e.value.message


def test_every_input_shape_parses_and_tasks_are_checked():
    body = {"inputs": ["red boots", {"text": "blue"}, {"text": "q", "text_pair": "t"}, {"words": ["a", "b"]}]}
    request = parse_request(json.dumps({**body, "tasks": ["category"]}).encode(), Limits(), TASKS)
    assert request.inputs == ["red boots", "blue", ("q", "t"), ["a", "b"]] and request.tasks == ("category",)
    assert parse_request(json.dumps(body).encode(), Limits(), TASKS).tasks is None


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b"{not json", 400, "not JSON"),
        (b'{"inputs": ["\xff"]}', 400, "not UTF-8"),
        (b"[]", 422, "expected an object"),
        (b'{"inputs": []}', 422, "non-empty list"),
        (b'{"inputs": "red"}', 422, "non-empty list"),
        (b'{"inputs": [3]}', 422, "inputs[0]"),
        (b'{"inputs": ["a", {"text": 1}]}', 422, "inputs[1]"),
        (b'{"inputs": [{"words": ["a", 2]}]}', 422, "inputs[0]"),
        (b'{"inputs": ["a"], "tasks": ["price"]}', 422, "unknown task 'price'"),
        (b'{"inputs": ["a"], "tasks": "category"}', 422, "tasks must be"),
        (b'{"inputs": ["a"], "task": ["category"]}', 422, "unknown field"),
    ],
)
def test_a_malformed_request_is_refused_whole_with_its_status_and_why(body, status, says):
    got_status, message = refused(body)
    assert got_status == status and says in message


def test_the_limits_answer_413():
    assert refused(json.dumps({"inputs": ["a"] * 5}).encode(), Limits(max_inputs=4)) == (
        413,
        "5 inputs: at most 4 per request",
    )
    status, message = refused(b"x" * 101, Limits(max_body_bytes=100))
    assert status == 413 and "101 bytes" in message


class FakePredictor:
    """Answers each input with itself; refuses pairs (as a bundle whose tasks take one text)."""

    def __init__(self):
        self.calls = []

    def predict(self, inputs, tasks=None):
        self.calls.append((list(inputs), tasks))
        if any(isinstance(x, tuple) for x in inputs):
            raise MtkdError("task category takes text inputs, not pair")
        return [{"echo": x, "tasks": tasks} for x in inputs]


def test_a_batch_is_answered_in_one_call_per_shape_and_tasks_and_given_back_in_order():
    requests = [
        Request(["a", ("q", "t"), "b"]),
        Request(["c"], ("category",)),
        Request([["w1", "w2"], "d"]),
    ]
    fake = FakePredictor()
    answer_batch(fake, requests)
    assert [a.get("echo") for a in requests[0].answers] == ["a", None, "b"]
    assert requests[0].answers[1] == {"error": "task category takes text inputs, not pair"}
    assert requests[1].answers == [{"echo": "c", "tasks": ("category",)}]
    assert [a["echo"] for a in requests[2].answers] == [["w1", "w2"], "d"]
    # texts of two requests share one call; pairs, words and the other tasks get their own
    assert sorted((len(i), repr(t)) for i, t in fake.calls) == [
        (1, "('category',)"),
        (1, "None"),
        (1, "None"),
        (3, "None"),
    ]
