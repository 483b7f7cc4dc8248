"""Which task each step trains on, and which examples form its batch.

The plan for an epoch is a pure function of (seed, epoch), so a resumed run regenerates it and
skips the steps already done: resuming gives the same batches as never stopping.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator


def task_probabilities(sizes: dict[str, int], sampling: str, temperature: float) -> dict[str, float]:
    """Per-task sampling probability: ∝ size (proportional), ∝ size^(1/T) (temperature), uniform."""
    if sampling == "round_robin":
        return {t: 1 / len(sizes) for t in sizes}
    power = 1.0 if sampling == "proportional" else 1.0 / temperature
    weights = {t: n**power for t, n in sizes.items()}
    total = sum(weights.values())
    return {t: w / total for t, w in weights.items()}


def _batches(n: int, batch_size: int, rng: random.Random) -> Iterator[list[int]]:
    """Endless shuffled batches over ``range(n)``; each pass is a fresh permutation."""
    while True:
        order = list(range(n))
        rng.shuffle(order)
        for i in range(0, n, batch_size):
            chunk = order[i : i + batch_size]
            if len(chunk) == batch_size or n < batch_size or i == 0:
                yield chunk


def epoch_plan(
    sizes: dict[str, int], batch_size: int, sampling: str, temperature: float, seed: int, epoch: int
) -> list[tuple[str, list[int]]]:
    """(task, example indices) for every step of one epoch.

    An epoch has as many steps as there are batches in all tasks together; tasks drawn more
    often than their size allows wrap around into a new permutation (up-sampling).
    """
    steps = sum(math.ceil(n / batch_size) for n in sizes.values())
    tasks = list(sizes)
    rng = random.Random(f"plan:{seed}:{epoch}")
    if sampling == "round_robin":
        order = [tasks[i % len(tasks)] for i in range(steps)]
    else:
        probs = task_probabilities(sizes, sampling, temperature)
        order = rng.choices(tasks, weights=[probs[t] for t in tasks], k=steps)
    streams = {t: _batches(sizes[t], batch_size, random.Random(f"batches:{seed}:{epoch}:{t}")) for t in tasks}
    return [(t, next(streams[t])) for t in order]
