"""The training loop learns, keeps the best epoch, and resumes to exactly the same weights."""

from __future__ import annotations

import pytest
import torch

from distill.config import ModelConfig, TaskConfig, TrainConfig
from distill.model import HeadSpec, MultiTaskModel
from distill.training.checkpoint import checkpoint_progress
from distill.training.loop import evaluate_all, supervised_objective, train
from distill.workspace import Workspace
from tests.conftest import builtin_task, prepare_tasks

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def setup():
    cfgs = {name: TaskConfig(**builtin_task(name, size)) for name, size in (("category", 600), ("attributes", 300))}
    tasks, tok, enc = prepare_tasks(cfgs)
    return tasks, tok, enc


def fresh_model(tasks, tok):
    torch.manual_seed(0)
    heads = [HeadSpec(t, d.config.type, tuple(d.labels)) for t, d in tasks.items()]
    cfg = ModelConfig(layers=1, hidden=64, heads=2, intermediate=128, dropout=0.1, max_position=64)
    return MultiTaskModel.from_config(cfg, heads, tok)


TRAIN = TrainConfig(epochs=4, batch_size=16, lr=3e-3, max_len=32, checkpoint_every=7, warmup=0.1)


def test_training_beats_the_baselines(setup, tmp_path):
    tasks, tok, enc = setup
    model = fresh_model(tasks, tok)
    result = train(model, Workspace(tasks, tok, tmp_path), enc, TRAIN, name="t")
    assert len(result.history) == 4 and 1 <= result.best_epoch <= 4
    test = evaluate_all(model, tasks, enc, "test", TRAIN, CPU, tok.pad_token_id)
    for metrics in test.values():
        assert metrics["value"] > metrics["baseline"] + 0.1, metrics
    # the model left in memory is the best epoch's, as saved in best/
    best = MultiTaskModel.from_pretrained(tmp_path / "best")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), best.state_dict().values(), strict=True))


class Interrupt(Exception):
    pass


def test_interrupted_run_resumes_to_identical_weights(setup, tmp_path):
    tasks, tok, enc = setup
    reference = fresh_model(tasks, tok)
    ref = train(reference, Workspace(tasks, tok, tmp_path / "ref"), enc, TRAIN, name="ref")

    calls = {"n": 0}
    base = supervised_objective(tasks)

    def dies_at_step_40(model, task, batch):
        calls["n"] += 1
        if calls["n"] == 40:
            raise Interrupt  # like a kill: no cleanup runs inside train()
        return base(model, task, batch)

    model = fresh_model(tasks, tok)
    with pytest.raises(Interrupt):
        train(model, Workspace(tasks, tok, tmp_path / "run"), enc, TRAIN, objective=dies_at_step_40, name="run")
    progress = checkpoint_progress(tmp_path / "run" / "checkpoints" / "last")
    assert progress["global_step"] == 35  # the last multiple of checkpoint_every before the failure

    resumed_model = fresh_model(tasks, tok)  # a new process would start from scratch weights
    resumed = train(resumed_model, Workspace(tasks, tok, tmp_path / "run", resume=True), enc, TRAIN, name="run")
    assert resumed.steps == ref.steps and resumed.best_epoch == ref.best_epoch
    assert [h["dev"] for h in resumed.history] == [h["dev"] for h in ref.history]
    for (name, a), b in zip(reference.state_dict().items(), resumed_model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_early_stopping_and_max_steps(setup, tmp_path):
    tasks, tok, enc = setup
    cfg = TRAIN.model_copy(update={"epochs": 5, "max_steps": 10})
    result = train(fresh_model(tasks, tok), Workspace(tasks, tok, tmp_path), enc, cfg, name="t")
    assert result.steps == 10 and len(result.history) == 1


def scripted_dev(monkeypatch, values: dict[str, list[float]]):
    """Replace each epoch's dev metric of the named tasks by the scripted values (accuracy-like)."""
    import distill.training.loop as loop

    real, epoch = loop.evaluate_all, {"n": 0}

    def evaluate_all(*args, **kwargs):
        out = real(*args, **kwargs)
        for task, series in values.items():
            out[task] = {**out[task], "value": series[epoch["n"]], "baseline": 0.0, "higher_is_better": True}
        epoch["n"] += 1
        return out

    monkeypatch.setattr(loop, "evaluate_all", evaluate_all)


def counting(tasks):
    base, calls = supervised_objective(tasks), []

    def objective(model, task, batch):
        calls.append(task)
        return base(model, task, batch)

    return objective, calls


def test_a_task_that_stops_improving_leaves_the_sampling_plan(setup, tmp_path, monkeypatch):
    tasks, tok, enc = setup
    scripted_dev(monkeypatch, {"attributes": [0.5, 0.4, 0.45, 0.3]})  # best in epoch 1, never again
    objective, calls = counting(tasks)
    cfg = TRAIN.model_copy(update={"task_patience": 1})
    result = train(fresh_model(tasks, tok), Workspace(tasks, tok, tmp_path), enc, cfg, objective, name="t")
    assert [h["trained"] for h in result.history] == [["attributes", "category"]] * 2 + [["category"]] * 2
    batches = {t: -(-len(enc[t]["train"]) // cfg.batch_size) for t in tasks}  # ceil
    both = batches["category"] + batches["attributes"]
    assert len(calls) == 2 * both + 2 * batches["category"]  # epochs 3 and 4: category's batches alone
    assert "attributes" in calls[:both] and "attributes" not in calls[2 * both :]


def test_training_ends_when_every_task_has_stopped_improving(setup, tmp_path, monkeypatch):
    tasks, tok, enc = setup
    scripted_dev(monkeypatch, {"attributes": [0.5, 0.4, 0.3, 0.2], "category": [0.6, 0.6, 0.7, 0.8]})
    cfg = TRAIN.model_copy(update={"task_patience": 1})
    result = train(fresh_model(tasks, tok), Workspace(tasks, tok, tmp_path), enc, cfg, name="t")
    assert len(result.history) == 2 and result.best_epoch == 1  # a tie is no improvement


def test_a_peaked_task_learns_from_its_best_epochs_model_while_the_others_go_on(setup, tmp_path, monkeypatch):
    tasks, tok, enc = setup
    scripted_dev(monkeypatch, {"attributes": [0.5, 0.4, 0.45, 0.3]})  # best in epoch 1, never again
    objective, calls = counting(tasks)
    cfg = TRAIN.model_copy(update={"task_patience": 1, "after_peak": "self_distil"})
    result = train(fresh_model(tasks, tok), Workspace(tasks, tok, tmp_path), enc, cfg, objective, name="t")
    assert [h["trained"] for h in result.history] == [["attributes", "category"]] * 4  # still in the plan
    anchored = [h.get("anchored") for h in result.history]  # as each epoch trained: anchored after epoch 2's dev
    assert anchored == [None, None, {"attributes": 1}, {"attributes": 1}]
    batches = {t: -(-len(enc[t]["train"]) // cfg.batch_size) for t in tasks}
    both = batches["category"] + batches["attributes"]
    # epochs 1-2 call the objective on every step; from epoch 3 attributes' steps are self-distillation
    assert "attributes" in calls[:both] and "attributes" not in calls[2 * both :] and 2 * both < len(calls) < 4 * both
    assert (tmp_path / "task-best" / "epoch-1").is_dir()  # attributes' teacher is kept while it teaches


def test_self_distillation_from_an_identical_model_is_zero_and_moves_the_encoder_once_it_differs(setup, tmp_path):
    from distill.encoding import collate
    from distill.training.anchoring import TaskAnchors
    from distill.training.engine import Progress

    tasks, tok, enc = setup
    model, progress = fresh_model(tasks, tok).eval(), Progress()
    anchors = TaskAnchors(tmp_path / "task-best", CPU)
    anchors.snapshot(model, tok, 1, ["category", "attributes"], progress)
    anchors.anchor(["category", "attributes"], progress)
    category = collate(enc["category"]["train"], list(range(8)), tok.pad_token_id, False)
    tags = collate(enc["attributes"]["train"], list(range(8)), tok.pad_token_id, True)
    base = supervised_objective(tasks)
    same = {**anchors.losses(base, model, ["category"], category), **anchors.losses(base, model, ["attributes"], tags)}
    assert all(float(loss.detach()) == pytest.approx(0, abs=1e-6) for loss in same.values())
    with torch.no_grad():
        for p in model.heads["category"].parameters():
            p.add_(0.5)
    loss = anchors.losses(base, model, ["category"], category)["category"]
    loss.backward()
    assert float(loss.detach()) > 0 and model.encoder.embeddings.word_embeddings.weight.grad.abs().sum() > 0
    resumed = TaskAnchors(tmp_path / "task-best", CPU)
    resumed.restore(progress)  # a resumed run loads the same teachers
    assert resumed.of == {"category": 1, "attributes": 1} and len(resumed.models) == 1
