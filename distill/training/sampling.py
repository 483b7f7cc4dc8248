"""Which task each step trains on, and which examples form its batch.

The plan for an epoch is a pure function of (seed, epoch), so a resumed run regenerates it and
skips the steps already done: resuming gives the same batches as never stopping.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence


def task_probabilities(sizes: dict[str, int], sampling: str, temperature: float) -> dict[str, float]:
    """Per-task sampling probability: ∝ size (proportional), ∝ size^(1/T) (temperature), uniform."""
    if sampling == "round_robin":
        return {t: 1 / len(sizes) for t in sizes}
    power = 1.0 if sampling == "proportional" else 1.0 / temperature
    weights = {t: n**power for t, n in sizes.items()}
    total = sum(weights.values())
    return {t: w / total for t, w in weights.items()}


GROUP = 50  # batches per length-sorted window: enough to cut padding, few enough to keep batches random


def length_grouped(order: list[int], lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Batches of similar lengths from a shuffled ``order``: windows of ``GROUP`` batches are sorted
    by length, cut into batches, and the batches shuffled. Same examples, far less padding."""
    window = GROUP * batch_size
    batches = []
    for start in range(0, len(order), window):
        part = sorted(order[start : start + window], key=lambda i: lengths[i])
        batches += [part[j : j + batch_size] for j in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def grouped(groups: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Batches over whole groups (a query's rows): the groups in a shuffled order, each group's rows shuffled
    and kept together, the sequence cut into batches (a group may span two)."""
    members: dict[int, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    keys = list(members)
    rng.shuffle(keys)
    order = []
    for g in keys:
        rows = members[g]
        rng.shuffle(rows)
        order += rows
    return [order[j : j + batch_size] for j in range(0, len(order), batch_size)]


def _batches(
    n: int,
    batch_size: int,
    rng: random.Random,
    lengths: Sequence[int] | None = None,
    groups: Sequence[int] | None = None,
) -> Iterator[list[int]]:
    """Endless shuffled batches over ``range(n)``; each pass is a fresh permutation (of groups, when given)."""
    while True:
        order = list(range(n))
        rng.shuffle(order)
        if groups is not None:
            batches = grouped(groups, batch_size, rng)
        elif lengths is None:
            batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
        else:
            batches = length_grouped(order, lengths, batch_size, rng)
        for j, chunk in enumerate(batches):
            if len(chunk) == batch_size or n < batch_size or j == 0:
                yield chunk


def epoch_plan(
    sizes: dict[str, int],
    batch_size: int,
    sampling: str,
    temperature: float,
    seed: int,
    epoch: int,
    lengths: dict[str, Sequence[int]] | None = None,
    groups: dict[str, Sequence[int]] | None = None,
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
    streams = {
        t: _batches(
            sizes[t],
            batch_size,
            random.Random(f"batches:{seed}:{epoch}:{t}"),
            (lengths or {}).get(t),
            (groups or {}).get(t),
        )
        for t in tasks
    }
    return [(t, next(streams[t])) for t in order]
