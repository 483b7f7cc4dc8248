"""Load over HTTP against a stand-in server: outcomes counted, batch sizes read, open-loop latency charged from
each request's scheduled time, the sweep's table, plot and best point within the budget."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from benchmarks.http_load import closed_loop, open_loop
from benchmarks.http_sweep import best_within, request_items, sweep, sweep_plot, sweep_table
from distill.data.examples import Example


class StandIn(BaseHTTPRequestHandler):
    """Answers 200 with a batch size for texts, 503 for "busy", 422 for anything else; sleeps `delay` s."""

    delay = 0.0

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        item = body["inputs"][0]
        time.sleep(self.delay)
        status = 503 if item == "busy" else 200 if isinstance(item, str) else 422
        payload = json.dumps({"outputs": [{}]}).encode()
        self.send_response(status)
        self.send_header("content-length", str(len(payload)))
        if status == 200:
            self.send_header("x-mtkd-batch-requests", "3")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_closed_loop_counts_every_outcome_and_the_batches(server):
    pool = ["red shirt", "busy", {"words": ["a"]}, "blue"]
    r = closed_loop(server, pool, concurrency=2, requests=40, seconds=30)
    assert r["requests"] == 40 and r["outcomes"] == {"200": 20, "503": 10, "4xx": 10}
    assert r["mean_batch"] == 3 and r["batches"] == {"3": 20} and r["p50_ms"] <= r["p99_ms"]
    assert r["throughput_rps"] > 0 and r["concurrency"] == 2


def test_open_loop_charges_a_slow_server_for_the_wait_it_causes(server, monkeypatch):
    monkeypatch.setattr(StandIn, "delay", 0.05)
    r = open_loop(server, ["red"], rate=40, requests=20, seconds=5)
    assert r["requests"] == 20 and r["outcomes"] == {"200": 20}
    assert r["p50_ms"] >= 50  # at least the server's own time, counted from the scheduled send
    dead = closed_loop("http://127.0.0.1:9", ["red"], concurrency=1, requests=3, seconds=5)
    assert dead["outcomes"] == {"failed": 3} and dead["throughput_rps"] == 0


def test_the_sweep_table_plot_and_best_point_within_the_budget(server, tmp_path):
    rows = sweep({"a": server, "b": server}, ["red", "blue"], concurrencies=[1, 2], requests=10, seconds=10)
    assert [(r["server"], r["concurrency"]) for r in rows] == [("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    table = sweep_table(rows)
    assert table.count("\n") == 5 and "| a | 1 clients | 10 | 10 | 0 |" in table
    assert best_within(rows, "a", 10_000)["throughput_rps"] == max(r["throughput_rps"] for r in rows[::2])
    assert best_within(rows, "a", 0.0) is None
    assert sweep_plot(rows, tmp_path / "p.png", 50).stat().st_size > 10_000
    examples = [Example("t", 0), Example("q", 1, text_pair="title"), Example(["w1", "w2"], [0, 0])]
    assert request_items(examples) == ["t", {"text": "q", "text_pair": "title"}, {"words": ["w1", "w2"]}]
