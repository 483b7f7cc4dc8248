"""The distillation objective: different shapes, exact zero at equality, cache equals live teacher."""

from __future__ import annotations

import copy

import pytest
import torch

from distill.config import (
    AttentionKD,
    DistillConfig,
    HiddenKD,
    LogitsKD,
    ModelConfig,
    RelationKD,
    StudentModelConfig,
    TaskConfig,
    TrainConfig,
)
from distill.encoding import collate, model_inputs
from distill.errors import MtkdError
from distill.kd.objective import DistillationObjective
from distill.kd.teacher_cache import TeacherLogits
from distill.model import HeadSpec, MultiTaskModel
from distill.student import build_student, encoder_layers, layer_map
from distill.training.loop import train
from distill.workspace import Workspace
from tests.conftest import builtin_task, prepare_tasks

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def setup():
    cfgs = {
        name: TaskConfig(**builtin_task(name, size))
        for name, size in (("category", 300), ("score", 200), ("attributes", 200))
    }
    tasks, tok, enc = prepare_tasks(cfgs)
    torch.manual_seed(0)
    heads = [HeadSpec(t, d.config.type, tuple(d.labels)) for t, d in tasks.items()]
    teacher = MultiTaskModel.from_config(
        ModelConfig(layers=4, hidden=32, heads=4, intermediate=64, dropout=0.0, attention_dropout=0.0, max_position=64),
        heads,
        tok,
    ).eval()
    return tasks, tok, enc, teacher


def batch_of(enc, tok, task, tags=False, n=8):
    return collate(enc[task]["train"], list(range(n)), tok.pad_token_id, tags)


def test_layer_maps():
    assert layer_map(2, 4, "uniform") == [(1, 2), (2, 4)]
    assert layer_map(3, 4, "uniform") == [(1, 1), (2, 3), (3, 4)]
    assert layer_map(2, 4, "last") == [(1, 3), (2, 4)]
    assert layer_map(2, 4, [[0, 0], [2, 3]]) == [(0, 0), (2, 3)]
    with pytest.raises(MtkdError, match="out of range"):
        layer_map(2, 4, [[3, 1]])


def test_student_from_teacher_layers_copies_a_uniform_subset(setup):
    _, tok, _, teacher = setup
    cfg = StudentModelConfig(layers=2, hidden=32, heads=4, intermediate=64, max_position=64, init="teacher_layers")
    student = build_student(cfg, teacher, tok)
    s_blocks, t_blocks = encoder_layers(student), encoder_layers(teacher)
    for s_i, t_i in [(0, 1), (1, 3)]:  # student layers 1, 2 ← teacher layers 2, 4
        for a, b in zip(s_blocks[s_i].parameters(), t_blocks[t_i].parameters(), strict=True):
            assert torch.equal(a, b)
    assert torch.equal(student.heads["category"].out.weight, teacher.heads["category"].out.weight)
    assert student.head_specs == teacher.head_specs
    with pytest.raises(MtkdError, match="teacher_layers needs the teacher's hidden_size"):
        build_student(cfg.model_copy(update={"hidden": 16, "heads": 2}), teacher, tok)


def test_a_narrow_student_takes_the_teachers_embeddings_along_their_principal_directions(setup):
    _, tok, _, teacher = setup
    cfg = StudentModelConfig(layers=1, hidden=8, heads=2, intermediate=16, max_position=64, init="teacher_embeddings")
    student = build_student(cfg, teacher, tok)
    t_word = teacher.encoder.embeddings.word_embeddings.weight.detach()
    s_word = student.encoder.embeddings.word_embeddings.weight.detach()
    basis = torch.linalg.lstsq(t_word, s_word).solution  # the projection the student's table came from
    assert torch.allclose(t_word @ basis, s_word, atol=1e-4)
    assert torch.allclose(basis.T @ basis, torch.eye(8), atol=1e-4)  # orthonormal directions
    random_basis = torch.linalg.qr(torch.randn(32, 8, generator=torch.Generator().manual_seed(0)))[0]
    assert s_word.var(0).sum() > 1.2 * (t_word @ random_basis).var(0).sum()  # the top variance, not any 8 dims
    t_pos = teacher.encoder.embeddings.position_embeddings.weight.detach()
    assert torch.allclose(t_pos @ basis, student.encoder.embeddings.position_embeddings.weight, atol=1e-4)
    with pytest.raises(MtkdError, match="cannot take a PCA"):
        build_student(cfg.model_copy(update={"hidden": 64, "heads": 2}), teacher, tok)


def test_loss_is_zero_when_the_student_is_the_teacher(setup):
    tasks, tok, enc, teacher = setup
    student = copy.deepcopy(teacher)
    cfg = DistillConfig(
        logits=LogitsKD(alpha=1.0), hidden=HiddenKD(), attention=AttentionKD(), relation=RelationKD(heads=2)
    )
    objective = DistillationObjective(teacher, student, tasks, cfg)
    assert objective.terms["attention"].pairs == [(1, 1), (2, 2), (3, 3), (4, 4)]
    for task in tasks:
        loss = objective(student.eval(), task, batch_of(enc, tok, task, tags=task == "attributes"))
        assert loss.abs().item() < 1e-5, task


def test_cached_teacher_logits_equal_live_ones(setup, tmp_path):
    tasks, tok, enc, teacher = setup
    cache = TeacherLogits.compute(teacher, tasks, {t: e["train"] for t, e in enc.items()}, 7, CPU, tok.pad_token_id)
    cache.save(tmp_path / "t.safetensors")
    loaded = TeacherLogits.load(tmp_path / "t.safetensors")
    for task in tasks:
        tags = task == "attributes"
        batch = batch_of(enc, tok, task, tags)
        with torch.no_grad():
            live = teacher(**model_inputs(batch), tasks=[task]).logits[task]
        cached = loaded.batch(task, batch["index"], live.shape[1] if tags else None)
        keep = batch["attention_mask"].bool() if tags else slice(None)
        assert torch.allclose(cached[keep], live[keep], atol=1e-5), task


def test_student_of_other_width_and_head_count_learns_from_the_teacher(setup, tmp_path):
    tasks, tok, enc, teacher = setup
    torch.manual_seed(1)
    student = build_student(
        StudentModelConfig(layers=2, hidden=16, heads=2, intermediate=32, max_position=64), teacher, tok
    )
    cfg = DistillConfig(logits=LogitsKD(alpha=1.0), hidden=HiddenKD(), relation=RelationKD(heads=2))
    objective = DistillationObjective(teacher, student, tasks, cfg)
    projection = objective.terms["hidden"].projection
    assert isinstance(projection, torch.nn.Linear) and projection.in_features == 16
    before = projection.weight.detach().clone()
    batch = batch_of(enc, tok, "category")

    def disagreement() -> float:
        with torch.no_grad():
            s = student.eval()(**model_inputs(batch), tasks=["category"]).logits["category"]
            t = teacher(**model_inputs(batch), tasks=["category"]).logits["category"]
        return torch.nn.functional.kl_div(
            s.log_softmax(-1), t.log_softmax(-1), log_target=True, reduction="batchmean"
        ).item()

    start = disagreement()
    cfg = TrainConfig(epochs=3, batch_size=8, lr=3e-3, max_len=32, warmup=0.0)
    train(student, Workspace(tasks, tok, tmp_path), enc, cfg, objective, name="kd")
    assert disagreement() < start / 2
    assert not torch.equal(projection.weight, before)  # the projection is trained with the student
    saved = MultiTaskModel.from_pretrained(tmp_path / "best")  # and never saved into the student
    assert saved.config.hidden_size == 16
    assert not any(k.startswith("objective") or "projection" in k for k in saved.state_dict())


def test_task_alpha_zero_makes_that_head_learn_from_its_labels_only(setup):
    from distill.tasks import task_type

    tasks, tok, enc, teacher = setup
    student = copy.deepcopy(teacher).eval()
    with torch.no_grad():  # a student that differs from the teacher, so KD and hard loss differ
        for p in student.heads.parameters():
            p.add_(0.1 * torch.randn_like(p))
    logits_only = DistillConfig(logits=LogitsKD(alpha=0.5, task_alpha={"score": 0.0}))
    objective = DistillationObjective(teacher, student, tasks, logits_only)
    for task in tasks:
        batch = batch_of(enc, tok, task, tags=task == "attributes")
        loss = objective(student, task, batch)
        with torch.no_grad():
            out = student(**model_inputs(batch), tasks=[task]).logits[task]
        hard = task_type(tasks[task].config.type).loss(out, batch["labels"])
        if task == "score":
            assert loss.item() == pytest.approx(hard.item(), rel=1e-5)  # no teacher term at all
        else:
            assert abs(loss.item() - hard.item()) > 1e-4, task  # alpha 0.5 elsewhere: the teacher pulls too


def test_distil_puts_a_teacher_loaded_on_the_cpu_on_the_students_device(setup, tmp_path, monkeypatch):
    """``distil(..., device="cuda")`` from Python: the teacher runs beside the student on every batch, so it
    must be moved too (the recipe path did; the API did not). The meta device stands in for a GPU here."""
    import distill.api as api

    tasks, tok, _, teacher = setup
    teacher = copy.deepcopy(teacher)
    seen = {}

    def stop_at_training(teacher_arg, student, *args, **kwargs):
        seen["teacher"] = next(teacher_arg.layers.parameters()).device
        raise RuntimeError("stop: only the placement is under test")

    monkeypatch.setattr(api, "_train_student", stop_at_training)
    cfg = DistillConfig(logits=LogitsKD(alpha=1.0), hidden=HiddenKD(), relation=RelationKD(heads=2))
    shape = StudentModelConfig(layers=2, hidden=32, heads=4, intermediate=64, max_position=64, init="teacher_layers")
    with pytest.raises(RuntimeError, match="only the placement"):
        api.distil(teacher, shape, Workspace(tasks, tok, tmp_path, "meta"), cfg, TrainConfig(max_len=32))
    assert seen["teacher"].type == "meta"


def test_a_teacher_of_the_user_s_own_kind_teaches_through_the_protocol(setup, tmp_path):
    """``distil`` has no branch on the teacher's kind: an object implementing ``Teacher`` is used as it is, and
    anything else is refused in one line."""
    from distill.api import distil
    from distill.teacher_adapters import Teacher, TrainedTeacher, as_teacher

    tasks, tok, _, teacher = setup
    asked = []

    class Recorded(TrainedTeacher):  # the trained model's answers, with a record of what was asked
        def predictions(self, work, encoded, split, *args):
            asked.append(split)
            return super().predictions(work, encoded, split, *args)

    own = Recorded(teacher)
    assert isinstance(own, Teacher) and as_teacher(own) is own
    shape = StudentModelConfig(layers=1, hidden=16, heads=2, intermediate=32, max_position=64)
    quick = TrainConfig(epochs=1, batch_size=16, lr=3e-3, max_len=32, warmup=0.0, max_steps=3)
    done = distil(own, shape, Workspace(tasks, tok, tmp_path), DistillConfig(logits=LogitsKD()), quick)
    assert asked == ["test", "dev"] and set(done.retention) == set(tasks)  # dev: the regression head's calibration
    assert set(done.calibrated) == {"score"}
    with pytest.raises(MtkdError, match="cannot teach with a str"):
        as_teacher("a teacher")


def test_relation_heads_that_do_not_divide_the_student_s_width_are_one_line_before_training(setup, tmp_path):
    """A recipe cannot check shapes hidden in checkpoints; ``distil`` checks the built models before any
    training (once, the 2 × 256 student of ecommerce-en ran 12 relation heads into a reshape error)."""
    from distill.api import distil

    tasks, tok, _, teacher = setup
    shape = StudentModelConfig(layers=1, hidden=20, heads=2, intermediate=32, max_position=64)  # 20 % 8 != 0
    cfg = DistillConfig(logits=LogitsKD(), relation=RelationKD(heads=8))
    with pytest.raises(MtkdError, match=r"relation.heads \(8\) must divide both hidden sizes \(teacher 32, student 20"):
        distil(teacher, shape, Workspace(tasks, tok, tmp_path), cfg, TrainConfig(max_len=32, max_steps=1))
    assert not (tmp_path / "checkpoints").exists()  # refused before the loop started
