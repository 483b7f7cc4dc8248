"""The one-process engine apart from any socket: adaptive batches, the bounded queue (503), deadlines (504) and
bad requests (4xx), through the ASGI app with a stand-in predictor (fast: no model, no server)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from types import SimpleNamespace

import httpx
import pytest

from compress.serve.api import Request
from compress.serve.asgi import create_app
from compress.serve.batcher import AdaptiveBatcher, DeadlineExceeded, Overloaded
from compress.serve.options import ServeOptions


class GatedPredictor:
    """Echoes each input; each call blocks until ``gate`` is set (so a test decides when the model finishes)."""

    def __init__(self, blocking: bool = False) -> None:
        self.tasks, self.manifest = {"category": {}}, SimpleNamespace(runtime="fake")
        self.gate = threading.Event()
        if not blocking:
            self.gate.set()
        self.calls: list[list] = []
        self.entered = threading.Event()

    def predict(self, inputs, tasks=None):
        self.calls.append(list(inputs))
        self.entered.set()
        self.gate.wait(10)
        return [{"category": {"label": x}} for x in inputs]


def run(coroutine):
    return asyncio.run(coroutine)


def test_a_request_that_finds_the_model_idle_runs_alone_and_those_that_come_meanwhile_form_one_batch():
    async def scenario():
        answered: list[list[str]] = []
        gate = threading.Event()

        def answer(requests):
            answered.append([r.inputs[0] for r in requests])
            gate.wait(10)
            for r in requests:
                r.answers = [{"echo": x} for x in r.inputs]

        batcher = AdaptiveBatcher(answer, max_batch=8, max_queued=64)
        batcher.start()
        first = asyncio.ensure_future(batcher.submit(Request(["a"]), 10))
        while not answered:  # the first is taken at once, with no wait for company
            await asyncio.sleep(0.001)
        rest = [asyncio.ensure_future(batcher.submit(Request([x]), 10)) for x in "bcdef"]
        await asyncio.sleep(0.05)
        gate.set()
        infos = await asyncio.gather(first, *rest)
        await batcher.stop()
        return answered, infos

    answered, infos = run(scenario())
    assert answered == [["a"], ["b", "c", "d", "e", "f"]]
    assert [i["requests"] for i in infos] == [1, 5, 5, 5, 5, 5]


def test_max_wait_holds_a_batch_until_it_fills():
    async def scenario():
        sizes: list[int] = []

        def answer(requests):
            sizes.append(len(requests))
            for r in requests:
                r.answers = [{}]

        batcher = AdaptiveBatcher(answer, max_batch=4, max_queued=64, max_wait_s=5.0)
        batcher.start()
        started = time.monotonic()
        tasks = [asyncio.ensure_future(batcher.submit(Request([str(i)]), 10)) for i in range(4)]
        await asyncio.gather(*tasks)
        await batcher.stop()
        return sizes, time.monotonic() - started

    sizes, seconds = run(scenario())
    assert sizes == [4] and seconds < 4  # full before the wait ran out: it did not wait the 5 s


def test_a_full_queue_refuses_and_a_passed_deadline_never_reaches_the_model():
    async def scenario():
        seen: list[str] = []
        gate = threading.Event()

        def answer(requests):
            seen.extend(r.inputs[0] for r in requests)
            gate.wait(10)
            for r in requests:
                r.answers = [{}]

        batcher = AdaptiveBatcher(answer, max_batch=1, max_queued=2)
        batcher.start()
        busy = asyncio.ensure_future(batcher.submit(Request(["busy"]), 10))
        while not seen:
            await asyncio.sleep(0.001)
        late = asyncio.ensure_future(batcher.submit(Request(["late"]), 0.05))  # queued behind the busy model
        kept = asyncio.ensure_future(batcher.submit(Request(["kept"]), 10))
        await asyncio.sleep(0)
        with pytest.raises(Overloaded):
            await batcher.submit(Request(["refused"]), 10)
        with pytest.raises(DeadlineExceeded):
            await late
        gate.set()
        await asyncio.gather(busy, kept)
        await batcher.stop()
        return seen

    assert run(scenario()) == ["busy", "kept"]


def client_for(predictor, **options) -> httpx.AsyncClient:
    app = create_app(predictor, ServeOptions(**options))
    return app, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def test_the_app_answers_what_the_predictor_answers_and_refuses_with_503_504_and_4xx():
    async def scenario():
        predictor = GatedPredictor(blocking=True)
        app, client = client_for(predictor, max_batch=2, max_queued=1, request_timeout_s=0.5)
        async with app.router.lifespan_context(app), client:
            hung = asyncio.ensure_future(client.post("/predict", json={"inputs": ["red boots"]}))
            while not predictor.entered.is_set():
                await asyncio.sleep(0.001)
            queued = asyncio.ensure_future(client.post("/predict", json={"inputs": ["oak desk"]}))
            await asyncio.sleep(0.05)
            full = await client.post("/predict", json={"inputs": ["gel pen"]})
            timed_out = await asyncio.gather(hung, queued)  # the model is held past the deadline
            predictor.gate.set()
            ok = await client.post("/predict", json={"inputs": ["a", "b"]})
            bad = await client.post("/predict", content=b'{"inputs": [42]}')
            metrics = (await client.get("/metrics")).text
        return ok, full, timed_out, bad, metrics, predictor.calls

    ok, full, timed_out, bad, metrics, calls = run(scenario())
    assert full.status_code == 503 and full.headers["retry-after"] == "1" and full.json()["error"]
    assert [r.status_code for r in timed_out] == [504, 504] and "0.5 s" in timed_out[0].json()["error"]
    assert ok.status_code == 200
    assert ok.json()["outputs"] == [{"category": {"label": "a"}}, {"category": {"label": "b"}}]
    assert calls == [["red boots"], ["a", "b"]]  # the request whose client gave up never reached the model
    assert bad.status_code == 422 and "inputs[0]" in bad.json()["error"]
    assert 'mtkd_requests_total{status="503"} 1.0' in metrics and 'mtkd_requests_total{status="504"} 2.0' in metrics


def test_a_model_failure_answers_500_for_its_batch_and_the_server_keeps_serving():
    class Flaky(GatedPredictor):
        def predict(self, inputs, tasks=None):
            if inputs == ["boom"]:
                raise RuntimeError("the runtime failed")
            return super().predict(inputs, tasks)

    async def scenario():
        app, client = client_for(Flaky())
        async with app.router.lifespan_context(app), client:
            failed = await client.post("/predict", json={"inputs": ["boom"]})
            fine = await client.post("/predict", json={"inputs": ["fine"]})
        return failed, fine

    failed, fine = run(scenario())
    assert failed.status_code == 500 and "the runtime failed" in failed.json()["error"]
    assert fine.status_code == 200 and json.loads(fine.content)["outputs"][0]["category"]["label"] == "fine"


def test_threads_default_to_the_cores_left_after_each_workers_loop():
    assert ServeOptions(workers=1).resolved(cpus=2).threads == 1
    assert ServeOptions(workers=2).resolved(cpus=16).threads == 7
    assert ServeOptions(workers=4).resolved(cpus=2).threads == 1
    assert ServeOptions(threads=3).resolved(cpus=2).threads == 3
    assert ServeOptions(engine="ray").resolved(cpus=16).threads == 1
