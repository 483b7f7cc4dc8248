"""Fine-tuning a checkpoint without guessing: heads at their own rate, epochs until every task's dev plateau."""

from __future__ import annotations

import torch

from distill.api import train_teacher
from distill.config import ModelConfig, TaskConfig, TrainConfig, fine_tuning_defaults
from distill.model import HeadSpec, MultiTaskModel
from distill.training.optim import build_optimizer
from distill.training.stopping import stop_reason
from distill.workspace import Workspace
from tests.conftest import builtin_task, prepare_tasks, tiny_bert_config


def test_unset_settings_get_the_fine_tuning_defaults_and_set_ones_stay():
    filled = fine_tuning_defaults(TrainConfig(batch_size=16))
    assert (filled.lr, filled.head_lr, filled.epochs, filled.task_patience) == (5e-5, 1e-3, 20, 2)
    mine = fine_tuning_defaults(TrainConfig(lr=1e-4, epochs=3, task_patience=None))
    assert (mine.lr, mine.head_lr, mine.epochs, mine.task_patience) == (1e-4, 2e-3, 3, None)
    assert fine_tuning_defaults(filled) == filled  # idempotent: a recipe validated twice does not drift
    assert fine_tuning_defaults(TrainConfig(head_lr=3e-4)).head_lr == 3e-4


def test_the_heads_learn_at_head_lr_and_the_encoder_at_lr():
    from distill.tokenization import train_wordpiece

    tok = train_wordpiece(["red cotton shirt", "blue wool socks"], vocab_size=100)
    model = MultiTaskModel.from_config(
        ModelConfig(layers=1, hidden=32, heads=2, intermediate=64), [HeadSpec("a", "classification", ("x", "y"))], tok
    )
    head_ids = {id(p) for p in model.heads.parameters()}
    opt = build_optimizer(model, TrainConfig(lr=1e-4, head_lr=2e-3))
    rates = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    assert {rates[i] for i in head_ids} == {2e-3}
    assert {r for i, r in rates.items() if i not in head_ids} == {1e-4}
    assert len(rates) == sum(1 for _ in model.parameters())  # every parameter in exactly one group
    assert {g["lr"] for g in build_optimizer(model, TrainConfig(lr=1e-4)).param_groups} == {1e-4}


def test_a_checkpoint_teacher_trained_with_the_defaults_stops_at_its_dev_plateau(tmp_path):
    from transformers import BertModel

    cfgs = {name: TaskConfig(**builtin_task(name, 120)) for name in ("category", "score")}
    tasks, tok, _ = prepare_tasks(cfgs, vocab_size=300)
    torch.manual_seed(0)
    BertModel(tiny_bert_config(len(tok))).save_pretrained(tmp_path / "ckpt")
    tok.save_pretrained(tmp_path / "ckpt")
    train = TrainConfig(batch_size=16, max_len=32)  # lr, epochs and patience left to the defaults
    done = train_teacher(
        Workspace(tasks, tok, tmp_path / "t"), ModelConfig(from_pretrained=str(tmp_path / "ckpt")), train
    )
    history = done.result.history
    assert len(history) < 20  # stopped by the plateau, not by the epoch limit
    reason = stop_reason(history, fine_tuning_defaults(train), done.result.best_epoch)
    assert "every task stopped improving on dev (task_patience 2)" in reason
    for task in tasks:  # each task's last two epochs of training brought no better dev metric
        curve = [row["dev"][task]["value"] for row in history if task in row["trained"]]
        better = max if history[0]["dev"][task]["higher_is_better"] else min
        assert curve.index(better(curve)) < len(curve) - 2
