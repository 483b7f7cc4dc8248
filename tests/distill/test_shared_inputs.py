"""Heads on one text: the same rows per source, one encoder pass per step, the same losses as apart."""

from __future__ import annotations

import copy

import pytest
import torch

from distill.config import (
    DataConfig,
    DistillConfig,
    HiddenKD,
    LogitsKD,
    ModelConfig,
    RelationKD,
    TaskConfig,
    TokenizerConfig,
    TrainConfig,
)
from distill.data.examples import SPLITS
from distill.data.loading import load_tasks
from distill.encoding import collate, encode_examples
from distill.kd.objective import DistillationObjective
from distill.kd.teacher_cache import TeacherLogits
from distill.model import MultiTaskModel, head_spec
from distill.tokenization import build_tokenizer
from distill.training.loop import supervised_objective, train
from distill.training.shared_inputs import joint_labels, shared_input_groups
from distill.workspace import Workspace
from tests.conftest import builtin_task
from tests.distill.test_training import scripted_dev

CPU = torch.device("cpu")
PRODUCTS = {"format": "builtin", "table": "products", "size": 240}


def cfgs() -> dict[str, TaskConfig]:
    """Three heads on product titles (one a tagger), one task on another table."""
    return {
        "category": TaskConfig(**builtin_task("category", 240)),
        "brand": TaskConfig(type="classification", source=PRODUCTS, text="title", label="brand"),
        "price": TaskConfig(type="regression", source=PRODUCTS, text="title", label="price"),
        "attributes": TaskConfig(**builtin_task("attributes", 240)),
        "score": TaskConfig(**builtin_task("score", 160)),
    }


@pytest.fixture(scope="module")
def setup():
    tasks = load_tasks(cfgs(), seed=0, data=DataConfig(same_rows_per_source=True, on_error="skip"))
    tok = build_tokenizer(TokenizerConfig(train="wordpiece", vocab_size=500), tasks)
    enc = {t: {s: encode_examples(tok, d.splits[s], d.kind, 32) for s in SPLITS} for t, d in tasks.items()}
    return tasks, tok, enc


def model_for(tasks, tok, hidden=32, heads=2, layers=2):
    torch.manual_seed(0)
    specs = [head_spec(d) for d in tasks.values()]  # the raw price head is standardised (auto)
    cfg = ModelConfig(
        layers=layers, hidden=hidden, heads=heads, intermediate=2 * hidden, dropout=0.0, attention_dropout=0.0,
        max_position=64,
    )  # fmt: skip
    return MultiTaskModel.from_config(cfg, specs, tok)


def test_same_rows_per_source_aligns_tasks_that_read_one_source(setup):
    apart = load_tasks(cfgs(), seed=0, data=DataConfig(on_error="skip"))  # a rare brand may miss train
    texts = {t: [ex.text for ex in d.splits["train"]] for t, d in apart.items()}
    assert texts["category"] != texts["brand"]  # by default each task draws its own sample
    tasks, _, enc = setup
    aligned = {
        t: [" ".join(ex.text) if isinstance(ex.text, list) else ex.text for ex in d.splits["train"]]
        for t, d in tasks.items()
    }
    assert aligned["category"] == aligned["brand"] == aligned["price"] == aligned["attributes"]
    splits = {t: enc[t]["train"] for t in tasks}
    assert shared_input_groups(tasks, splits, share=True) == {
        "category": ["category", "brand", "price"],  # the tagger stays apart: its loss counts tokens
        "attributes": ["attributes"],
        "score": ["score"],
    }
    assert shared_input_groups(tasks, splits, share=False) == {t: [t] for t in tasks}
    shifted = copy.copy(splits["brand"])
    shifted.input_ids = splits["brand"].input_ids[1:] + splits["brand"].input_ids[:1]
    assert shared_input_groups(tasks, {**splits, "brand": shifted}, share=True)["brand"] == ["brand"]


@pytest.mark.parametrize("kind", ["supervised", "distillation", "cached teacher logits"])
def test_a_joint_step_gives_each_head_the_loss_of_a_step_of_its_own(setup, kind):
    tasks, tok, enc = setup
    members, idx = ["category", "brand", "price"], list(range(3, 19))
    student = model_for(tasks, tok)
    if kind == "supervised":
        objective = supervised_objective(tasks)
    elif kind == "distillation":  # a wider teacher: hidden states through the projection, MiniLM relations
        teacher = model_for(tasks, tok, hidden=48, heads=4, layers=3).eval()
        cfg = DistillConfig(logits=LogitsKD(alpha=0.5), hidden=HiddenKD(), relation=RelationKD(heads=4))
        objective = DistillationObjective(teacher, student, tasks, cfg)
    else:  # logits only, read per member from the cache by row index
        teacher = model_for(tasks, tok, hidden=48, heads=4, layers=3).eval()
        splits = {t: enc[t]["train"] for t in members}
        cache = TeacherLogits.compute(teacher, {t: tasks[t] for t in members}, splits, 8, CPU, tok.pad_token_id)
        objective = DistillationObjective(teacher, student, tasks, DistillConfig(logits=LogitsKD()), cached=cache)
    joint = collate(enc["category"]["train"], idx, tok.pad_token_id, False)
    joint["labels"] = joint_labels({t: enc[t]["train"] for t in members}, members, idx)
    together = objective.losses(student, members, joint)
    for t in members:
        alone = objective(student, t, collate(enc[t]["train"], idx, tok.pad_token_id, False))
        assert together[t].item() == pytest.approx(alone.item(), rel=1e-5), t
    assert len({round(v.item(), 6) for v in together.values()}) == 3  # three different heads, three losses


def test_training_with_shared_inputs_runs_the_encoder_once_per_step(setup, tmp_path):
    tasks, tok, enc = setup
    cfg = TrainConfig(epochs=2, batch_size=16, lr=3e-3, max_len=32, share_inputs=True)
    model = model_for(tasks, tok)
    passes = {"n": 0}
    model.encoder.register_forward_hook(lambda m, i, o: passes.__setitem__("n", passes["n"] + m.training))
    out = {t: getattr(model.heads[t], "head", model.heads[t]).out for t in tasks}  # price's head is wrapped
    start = {t: out[t].weight.detach().clone() for t in tasks}
    result = train(model, Workspace(tasks, tok, tmp_path), enc, cfg, name="joint")
    sizes = {t: len(enc[t]["train"]) for t in ("category", "attributes", "score")}  # the three units
    assert result.steps == passes["n"] == 2 * sum(-(-n // 16) for n in sizes.values())
    assert set(result.history[-1]["train_loss"]) == set(tasks)  # every head trained and reported
    assert all(not torch.equal(start[t], out[t].weight) for t in tasks)
    first, second = (h["train_loss"] for h in result.history)
    assert all(second[t] < first[t] for t in ("category", "brand")), (first, second)


def test_a_head_that_stops_improving_leaves_its_unit_and_the_rest_keep_their_own_labels(setup, tmp_path, monkeypatch):
    tasks, tok, enc = setup
    rising, falling = [0.1, 0.2, 0.3], [0.5, 0.4, 0.3]
    # the head the unit is named after stops, and price: brand is left alone in the unit
    scripted_dev(monkeypatch, {t: falling if t in ("category", "price") else rising for t in tasks})
    base, seen = supervised_objective(tasks), []

    class Recording:
        def losses(self, model, members, batch):
            seen.append((tuple(members), batch["labels"]))
            return base.losses(model, members, batch)

        def __call__(self, model, task, batch):
            return self.losses(model, [task], batch)[task]

    cfg = TrainConfig(epochs=3, batch_size=16, lr=3e-3, max_len=32, share_inputs=True, task_patience=1)
    result = train(model_for(tasks, tok), Workspace(tasks, tok, tmp_path), enc, cfg, Recording(), name="t")
    assert result.history[2]["trained"] == ["attributes", "brand", "score"]
    first_two = result.history[1]["global_step"]
    assert ("category", "brand", "price") in [m for m, _ in seen[:first_two]]
    later = [(m, labels) for m, labels in seen[first_two:] if "brand" in m]
    # brand learns from its own labels, not from the category labels of the unit's rows
    assert later and all(
        m == ("brand",) and isinstance(labels, dict) and set(labels) == {"brand"} for m, labels in later
    )
