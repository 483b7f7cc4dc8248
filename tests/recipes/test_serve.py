"""`mtkd serve` on a tiny bundle, as a user starts it, on both engines (local: one process; ray: Ray Serve):
concurrent answers equal Predictor's, batches larger than one form, a full queue answers 503 with Retry-After,
and every bad request gets its 4xx while a concurrent good request succeeds; a killed local worker is started
again. Needs the `serve` extra; each engine is skipped with the reason without it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml

from compress.bundle import Predictor
from compress.serve.local import local_unavailable
from compress.serve.server import config_file, serve_unavailable, wait_ready
from recipes.cli import main

pytestmark = pytest.mark.slow
UNAVAILABLE = {"local": local_unavailable(), "ray": serve_unavailable()}
ROOT = Path(__file__).resolve().parents[2]
TEXTS = ["red leather boots", "wireless earbuds with charging case", "oak desk", "gel pen set of twelve blue"]
WORDS = [["steel", "frying", "pan"], ["dog", "leash"]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def bundle(quantized_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("serve") / "bundle"  # FP32: answers do not depend on the batch's other rows
    assert main(["export", str(quantized_run), "--artifact", "student-fp32", "--out", str(out), "--no-verify"]) == 0
    return out


def start_server(bundle: Path, *args: str) -> tuple[subprocess.Popen, str]:
    """``mtkd serve BUNDLE ARGS`` in a session of its own, once ``/ready`` answers."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "recipes", "serve", str(bundle), "--port", str(port), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, 180)
    except Exception:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"mtkd serve did not come up: {proc.stdout.read()[-3000:] if proc.stdout else ''}")
    return proc, url


def stop_server(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module", params=["local", "ray"])
def server(bundle, request):
    if UNAVAILABLE[request.param]:
        pytest.skip(UNAVAILABLE[request.param])
    args = [
        "--engine",
        request.param,
        "--max-batch",
        "8",
        "--batch-wait-ms",
        "20",
        "--max-queued",
        "16",
        "--max-inputs",
        "16",
        "--max-body-bytes",
        "100000",
    ]
    proc, url = start_server(bundle, *args)
    yield url
    stop_server(proc)


def post(url: str, body: bytes, headers: dict | None = None) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(f"{url}/predict", body, {"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def same(a: dict, b: dict) -> bool:
    """Two answers agree: labels, tags and entities exactly; scores and values to 1e-4 (padding differs)."""
    if a.keys() != b.keys():
        return False
    for task in a:
        x, y = a[task], b[task]
        if x.keys() != y.keys() or x.get("label") != y.get("label") or x.get("tags") != y.get("tags"):
            return False
        if "value" in x and not np.isclose(x["value"], y["value"], atol=1e-4):
            return False
        if "probabilities" in x and not np.allclose(
            list(x["probabilities"].values()), list(y["probabilities"].values()), atol=1e-4
        ):
            return False
    return True


def test_concurrent_answers_equal_predictors_and_batches_form(server, bundle):
    predictor = Predictor.load(bundle)
    inputs = [*TEXTS, *[{"words": w} for w in WORDS]]
    results: list[tuple[int, dict, dict, dict]] = []
    gate = threading.Barrier(8)

    def client(k: int) -> None:
        gate.wait()
        for i in range(4):
            item = inputs[(k + i) % len(inputs)]
            status, headers, body = post(server, json.dumps({"inputs": [item]}).encode())
            local = item["words"] if isinstance(item, dict) else item
            answer = json.loads(body) if status == 200 else {"status": status, "body": body.decode(errors="replace")}
            results.append((status, headers, answer, predictor.predict([local])[0]))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r[0] for r in results] == [200] * 32, [r[2] for r in results if r[0] != 200]
    assert all(same(body["outputs"][0], want) for _, _, body, want in results)
    batches = Counter(int(h["x-mtkd-batch-requests"]) for _, h, _, _ in results)
    assert max(batches) > 1, batches  # the server answered several requests in one batch


def test_a_full_queue_answers_503_with_retry_after(server):
    body = json.dumps({"inputs": TEXTS * 4}).encode()  # 16 inputs: each batch takes a moment
    statuses: list[tuple[int, dict]] = []
    gate = threading.Barrier(64)

    def client() -> None:
        gate.wait()
        status, headers, _ = post(server, body)
        statuses.append((status, headers))

    threads = [threading.Thread(target=client) for _ in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts = Counter(s for s, _ in statuses)
    assert set(counts) <= {200, 503} and counts[503] > 0 and counts[200] >= 8, counts
    assert all(h.get("retry-after") == "1" for s, h in statuses if s == 503)


BAD = [
    (b'{"inputs": ["red boots"', 400),  # malformed JSON
    (b'{"inputs": [42]}', 422),  # wrong type
    (b'{"inputs": []}', 422),  # no inputs
    (b'{"inputs": ["\xc3\x28"]}', 400),  # invalid UTF-8
    (json.dumps({"inputs": ["a"] * 17}).encode(), 413),  # over the inputs limit
    (b"x" * (10 * 2**20), 413),  # 10 MB body
]


def test_each_bad_request_gets_its_4xx_while_a_concurrent_good_one_succeeds(server):
    good: list[int] = []
    stop = threading.Event()

    def steady() -> None:
        while not stop.is_set():
            good.append(post(server, json.dumps({"inputs": TEXTS[:2]}).encode())[0])

    runner = threading.Thread(target=steady)
    runner.start()
    try:
        for body, status in BAD:
            got, _, text = post(server, body)
            assert got == status, (body[:40], got, text[:200])
            assert json.loads(text)["error"]  # a message a client can read
        mixed = json.loads(post(server, json.dumps({"inputs": ["red boots", "  "]}).encode())[2])["outputs"]
        assert "category" in mixed[0] and mixed[1] == {"error": "empty input: nothing to predict on"}
    finally:
        stop.set()
        runner.join()
    assert good and set(good) == {200}


def test_metrics_readiness_and_the_config_file(server, bundle):
    with urllib.request.urlopen(f"{server}/metrics") as r:
        text = r.read().decode()
    assert 'mtkd_requests_total{status="200"}' in text and "mtkd_batch_requests_bucket" in text
    with urllib.request.urlopen(f"{server}/ready") as r:
        assert json.loads(r.read())["tasks"] == list(Predictor.load(bundle).tasks)

    if UNAVAILABLE["ray"]:
        return
    from ray.serve.schema import ServeDeploySchema

    from compress.serve.options import ServeOptions

    config = config_file(bundle, ServeOptions(engine="ray", replicas=2, threads=1))
    ServeDeploySchema.model_validate(yaml.safe_load(yaml.safe_dump(config)))  # what `serve deploy` accepts
    assert config["applications"][0]["args"]["replicas"] == 2


def test_bad_serve_options_are_refused_before_anything_starts():
    from compress.serve.options import ServeOptions
    from distill.errors import MtkdError

    with pytest.raises(MtkdError, match="max_batch=0"):
        ServeOptions(max_batch=0)
    with pytest.raises(MtkdError, match="below max_batch"):
        ServeOptions(max_batch=8, max_ongoing=4)
    assert ServeOptions(max_batch=1, max_ongoing=32).max_ongoing == 32  # unbatched, many at once


@pytest.mark.skipif(UNAVAILABLE["local"] is not None, reason=str(UNAVAILABLE["local"]))
def test_a_killed_local_worker_is_started_again_while_the_other_answers(bundle):
    proc, url = start_server(bundle, "--workers", "2", "--threads", "1")
    try:
        pids = set()
        for _ in range(40):  # the port is shared: connections land on either worker
            with urllib.request.urlopen(f"{url}/ready") as r:
                pids.add(json.loads(r.read())["pid"])
        victim = next(iter(pids))
        os.kill(victim, signal.SIGKILL)
        statuses, seen, deadline = [], set(), time.monotonic() + 60
        while time.monotonic() < deadline and (not seen - pids or len(statuses) < 20):
            statuses.append(post(url, json.dumps({"inputs": TEXTS[:1]}).encode())[0])
            with urllib.request.urlopen(f"{url}/ready") as r:
                seen.add(json.loads(r.read())["pid"])
        assert set(statuses) == {200}, Counter(statuses)  # the other worker kept answering
        assert seen - pids, "no new worker answered within 60 s"
        assert victim not in seen
    finally:
        stop_server(proc)
