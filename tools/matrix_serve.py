"""The reliability matrix's ``serve`` rows: both engines of ``mtkd serve`` under a killed replica (Ray) or worker
(the local engine, two workers on one port) and under bad requests.

A replica's (worker's) process is killed with SIGKILL while clients keep sending: every request must end, answered
correctly (as the bundle's Predictor answers it) or refused with an HTTP error, none may hang past its
timeout, and the server must answer again within ``RECOVERY_S``. Then each bad request (malformed JSON, a
wrong type, no inputs, a 10 MB body, invalid UTF-8) must get its 4xx with a message while a concurrent good
client's requests all succeed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from .matrix import Outcome

RECOVERY_S = 60.0  # the promise: answered again within this after a replica dies
TIMEOUT_S = 30.0  # a request that takes longer has hung
GOOD = ["red cotton shirt", "wireless earbuds"]
BAD = [
    ("malformed JSON", b'{"inputs": ["red"', 400),
    ("a wrong type", b'{"inputs": [42]}', 422),
    ("no inputs", b'{"inputs": []}', 422),
    ("a 10 MB body", b"x" * (10 * 2**20), 413),
    ("invalid UTF-8", b'{"inputs": ["\xc3\x28"]}', 400),
]


def post(url: str, body: bytes) -> tuple[int | None, bytes]:
    """(status, body); status None when the request failed to connect or timed out."""
    req = urllib.request.Request(f"{url}/predict", body, {"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return None, b""


def replica_pids() -> list[int]:
    """The OS processes of mtkd's Ray Serve replicas (Ray names them ``ray::ServeReplica:<app>:<deployment>``)."""
    done = subprocess.run(["pgrep", "-f", "ServeReplica:mtkd:BundleServer"], capture_output=True, text=True)
    return [int(p) for p in done.stdout.split()]


def worker_pids(url: str, probes: int = 40) -> list[int]:
    """The local engine's worker processes that answer on ``url`` (each says its pid on ``/ready``), one of them:
    the other keeps serving while it is started again."""
    seen = set()
    for _ in range(probes):
        with urllib.request.urlopen(f"{url}/ready", timeout=TIMEOUT_S) as r:
            seen.add(json.loads(r.read())["pid"])
    return sorted(seen)[:1]


def killed_replica(url: str, expected: list[dict], engine: str = "ray") -> Outcome:
    """SIGKILL the replica (a worker) while four clients send; count how every request ended, time the recovery."""
    body = json.dumps({"inputs": GOOD}).encode()
    ended: list[tuple[int | None, bytes, float, float]] = []  # status, body, start, seconds
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            t0 = time.monotonic()
            status, text = post(url, body)
            ended.append((status, text, t0, time.monotonic() - t0))

    clients = [threading.Thread(target=client) for _ in range(4)]
    for c in clients:
        c.start()
    time.sleep(2.0)
    pids = replica_pids() if engine == "ray" else worker_pids(url)
    killed_at = time.monotonic()
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    recovered = None
    while recovered is None and time.monotonic() - killed_at < RECOVERY_S:
        time.sleep(0.25)
        after = [t0 + d for s, _, t0, d in list(ended) if s == 200 and t0 > killed_at]
        recovered = min(after) - killed_at if after else None
    stop.set()
    for c in clients:
        c.join(TIMEOUT_S + 5)
    wrong = [t for s, t, _, _ in ended if s == 200 and json.loads(t)["outputs"] != expected]
    hung = [d for s, _, _, d in ended if s is None and d >= TIMEOUT_S]
    codes = sorted({str(s) for s, _, _, _ in ended})
    ok = bool(pids) and not wrong and not hung and recovered is not None
    detail = (
        f"replica (pid {pids}) killed under 4 clients: {len(ended)} requests ended ({', '.join(codes)}), "
        f"{len(wrong)} wrong answers, {len(hung)} hung; a request sent after the kill answered 200 "
        f"{recovered:.1f} s after it (promise: {RECOVERY_S:.0f} s)"
        if recovered is not None
        else f"replica pids {pids}; no request answered within {RECOVERY_S:.0f} s of the kill; endings {codes}"
    )
    return Outcome("serve", f"{engine}: a {'replica' if engine == 'ray' else 'worker'} killed under load", ok, detail)


def bad_requests(url: str, engine: str = "ray") -> Outcome:
    """Each bad request's status while a good client keeps sending."""
    good: list[int | None] = []
    stop = threading.Event()

    def steady() -> None:
        while not stop.is_set():
            good.append(post(url, json.dumps({"inputs": GOOD}).encode())[0])

    runner = threading.Thread(target=steady)
    runner.start()
    seen = []
    try:
        for name, body, status in BAD:
            got, text = post(url, body)
            message = json.loads(text).get("error", "") if got and text.startswith(b"{") else ""
            seen.append((name, got, status, bool(message)))
    finally:
        stop.set()
        runner.join()
    ok = all(got == want and has for _, got, want, has in seen) and bool(good) and set(good) == {200}
    parts = ", ".join(f"{name} {got}" for name, got, _, _ in seen)
    detail = f"{parts}, each with a message; a concurrent client: {len(good)} requests, all 200"
    what = f"{engine}: bad requests beside a good client"
    return Outcome("serve", what, ok, detail if ok else f"{detail}; {seen} {set(good)}")


def serve_rows(bundle: Path) -> list[Outcome]:
    """Both rows against each engine serving ``bundle``, or a 'not run' row saying why."""
    from compress.bundle import Predictor
    from compress.serve.local import local_unavailable, start_local_process, stop_local_process
    from compress.serve.options import ServeOptions
    from compress.serve.server import serve_unavailable, start, stop

    expected = json.loads(json.dumps(Predictor.load(bundle).predict(GOOD)))
    rows = []
    reason = local_unavailable()
    if reason:
        rows.append(Outcome("not run", "serve: local worker kill and bad requests", True, reason))
    else:
        proc, url = start_local_process(bundle, ServeOptions(port=8767, workers=2, threads=1, max_batch=4))
        try:
            rows += [bad_requests(url, "local"), killed_replica(url, expected, "local")]
        finally:
            stop_local_process(proc)
    reason = serve_unavailable()
    if reason:
        return [*rows, Outcome("not run", "serve: ray replica kill and bad requests", True, reason)]
    url = start(bundle, ServeOptions(engine="ray", port=8766, max_batch=4, max_queued=64))
    try:
        return [*rows, bad_requests(url), killed_replica(url, expected)]
    finally:
        stop()
