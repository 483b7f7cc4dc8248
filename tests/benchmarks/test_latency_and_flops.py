"""Percentiles and interleaving on synthetic timings; FLOPs of a small BERT against hand counts."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import BertConfig, BertModel

from benchmarks.flops import encoder_flops, layer_flops
from benchmarks.latency import LatencyStats, interleaved, median_of_rounds, summarize
from benchmarks.report import pareto_front


def test_percentiles_of_known_samples():
    stats = summarize([float(x) for x in range(1, 101)])  # 1..100 ms
    assert stats.p50 == pytest.approx(50.5) and stats.p90 == pytest.approx(90.1)
    assert stats.p99 == pytest.approx(99.01) and stats.mean == pytest.approx(50.5) and stats.samples == 100


def test_median_over_rounds_ignores_one_noisy_round():
    calm = LatencyStats(10, 11, 12, 13, 10, 1, 20)
    noisy = LatencyStats(50, 60, 70, 80, 55, 9, 20)
    merged = median_of_rounds([calm, noisy, calm])
    assert merged.p50 == 10 and merged.p99 == 13 and merged.samples == 60


def test_candidates_are_interleaved_in_rounds_and_timed_by_the_clock():
    calls: list[str] = []
    now = [0.0]
    cost = {"a": 0.002, "b": 0.005}  # seconds per call on a fake clock

    def make(name):
        def call():
            calls.append(name)
            now[0] += cost[name]

        return call

    stats = interleaved({"a": make("a"), "b": make("b")}, warmup=1, iters=2, rounds=3, clock=lambda: now[0])
    assert calls[:2] == ["a", "b"]  # warm-up, once each
    assert calls[2:] == ["a", "a", "b", "b"] * 3  # rounds alternate the candidates
    assert stats["a"].p50 == pytest.approx(2.0) and stats["b"].p50 == pytest.approx(5.0)
    assert stats["a"].samples == 6


def test_layer_flops_hand_count():
    # L=4, H=8, I=16: projections 2·4·8·8·4 = 2048, attention 2·4·4·8·2 = 512, FFN 2·4·8·16·2 = 2048
    assert layer_flops(4, 8, 16) == 2048 + 512 + 2048


def test_encoder_flops_match_torch_flop_counter_on_a_small_bert():
    config = BertConfig(
        vocab_size=50,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        attn_implementation="eager",
    )
    model = BertModel(config, add_pooling_layer=False).eval()
    seq = 10
    ids = torch.randint(0, 50, (1, seq))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(input_ids=ids, attention_mask=torch.ones_like(ids))
    assert encoder_flops(config, seq) == counter.get_total_flops()
    assert encoder_flops(config, seq) == 2 * layer_flops(seq, 32, 64)


def test_pareto_front_keeps_only_undominated_points():
    pts = [(1.0, 0.90), (2.0, 0.95), (3.0, 0.93), (0.5, 0.80), (2.0, 0.90)]
    assert sorted(pareto_front(pts, higher_is_better=True)) == [0, 1, 3]
    # lower-is-better metrics (RMSE): the smallest error wins
    assert sorted(pareto_front([(1.0, 0.5), (2.0, 0.4), (3.0, 0.6)], higher_is_better=False)) == [0, 1]


@pytest.mark.gpu
def test_cuda_event_timer_measures_gpu_work():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU: CUDA event timing cannot be exercised on this machine")
    from benchmarks.latency import cuda_timer

    a = torch.randn(2048, 2048, device="cuda")
    timer = cuda_timer()
    for _ in range(3):  # warm-up: the first calls carry cuBLAS initialisation and kernel selection
        timer(lambda: a @ a)
    small = min(timer(lambda: a[:64, :64] @ a[:64, :64]) for _ in range(5))
    big = min(timer(lambda: a @ a) for _ in range(5))
    assert big > small > 0
