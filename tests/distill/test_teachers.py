"""Bring-your-own teachers: checkpoints fine-tuned with transformers' own classes, and files of outputs,
distilled into one student; KD targets equal each teacher's own logits; mismatches give named errors."""

from __future__ import annotations

import json

import pytest
import torch

from distill.api import distil
from distill.config import (
    DataConfig,
    DistillConfig,
    LogitsKD,
    StudentModelConfig,
    TaskConfig,
    TokenizerConfig,
    TrainConfig,
)
from distill.data.builtin import generate_table
from distill.data.loading import load_tasks
from distill.encoding import collate, encode_examples
from distill.errors import DataError, TeacherMismatch
from distill.kd.objective import DistillationObjective
from distill.model import HeadSpec, MultiTaskModel
from distill.teacher_sources import TeacherSources
from distill.teachers import OutputsTeacher, load_teachers, student_targets
from distill.teachers.targets import decoded_copy
from distill.tokenization import build_tokenizer
from distill.workspace import Workspace
from tests.conftest import builtin_task
from tests.teacher_checkpoints import save_sequence_teacher, save_token_teacher

TINY_STUDENT = StudentModelConfig(layers=1, hidden=32, heads=2, intermediate=64, dropout=0.0, max_position=64)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Products with ids (category and attribute tags from one file) and query scores without a teacher."""
    root = tmp_path_factory.mktemp("byot")
    rows = generate_table("products", 160, seed=3)
    with (root / "products.jsonl").open("w", encoding="utf-8") as f:
        for i, row in enumerate(rows):
            f.write(json.dumps({"id": f"p{i}", **row}) + "\n")
    source = {"format": "jsonl", "train": str(root / "products.jsonl")}
    cfgs = {
        "category": TaskConfig(type="classification", source=source, text="title", label="category", id="id"),
        "attributes": TaskConfig(type="token_classification", source=source, id="id"),
        "score": TaskConfig(**builtin_task("score", 120)),
    }
    tasks = load_tasks(cfgs, seed=0, data=DataConfig())
    student_tok = build_tokenizer(TokenizerConfig(train="wordpiece", vocab_size=500), tasks)
    teacher_tok = build_tokenizer(TokenizerConfig(train="wordpiece", vocab_size=300), tasks)  # another vocabulary
    return root, tasks, student_tok, teacher_tok


@pytest.fixture(scope="module")
def teachers(data):
    root, tasks, _, teacher_tok = data
    seq = save_sequence_teacher(root / "category-teacher", tasks["category"], teacher_tok)
    tag = save_token_teacher(root / "attributes-teacher", tasks["attributes"], teacher_tok)
    sources = TeacherSources(
        checkpoints={"category": str(root / "category-teacher"), "attributes": str(root / "attributes-teacher")}
    )
    return sources, seq, tag


def test_kd_targets_equal_each_teachers_own_logits(data, teachers):
    _, tasks, student_tok, teacher_tok = data
    sources, seq, tag = teachers
    loaded = load_teachers(sources, tasks, max_len=64)
    encoded = {t: encode_examples(student_tok, d.splits["train"], d.kind, 32) for t, d in tasks.items()}
    targets = student_targets(loaded, tasks, encoded, student_tok)
    assert set(targets.logits) == {"category", "attributes"}  # score has no teacher: labels alone

    cat = tasks["category"]
    ex = cat.splits["train"][5]
    with torch.no_grad():
        own = seq(**teacher_tok([ex.text], return_tensors="pt")).logits[0]
    by_name = dict(zip(reversed(cat.labels), own.tolist(), strict=True))  # id2label was reversed
    expected = torch.tensor([by_name[label] for label in cat.labels])
    torch.testing.assert_close(targets.logits["category"][5], expected, rtol=1e-4, atol=1e-5)

    att = tasks["attributes"]
    ex = att.splits["train"][7]
    enc = teacher_tok([ex.text], is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        own = tag(**enc).logits[0]
    teacher_first = {w: p for p, w in reversed(list(enumerate(enc.word_ids(0)))) if w is not None}
    student_first = {w: p for p, w in reversed(list(enumerate(encoded["attributes"].word_ids[7]))) if w is not None}
    row = targets.logits["attributes"][7]
    for w in range(len(ex.text)):
        if w in student_first:
            expected = own[teacher_first[w]].flip(-1)  # reversed label order, back to the task's
            torch.testing.assert_close(row[student_first[w]], expected, rtol=1e-4, atol=1e-5)


def test_two_checkpoints_and_a_label_only_task_distil_into_one_student(data, teachers, tmp_path):
    _, tasks, student_tok, _ = data
    sources, _, _ = teachers
    loaded = load_teachers(sources, tasks, max_len=64)
    cfg = DistillConfig(logits=LogitsKD(alpha=1.0))
    train_cfg = TrainConfig(epochs=1, batch_size=16, lr=3e-3, max_len=32, warmup=0.0)
    done = distil(loaded, TINY_STUDENT, Workspace(tasks, student_tok, tmp_path / "s"), cfg, train_cfg)
    assert set(done.model.heads) == {"category", "attributes", "score"}  # one student, every head
    assert set(done.teacher_test) == {"category", "attributes"}
    assert set(done.retention) == {"category", "attributes"}
    reloaded = MultiTaskModel.from_pretrained(done.path)
    assert reloaded.head_specs["category"].labels == tuple(tasks["category"].labels)


def test_task_without_a_teacher_learns_from_its_labels(data):
    _, tasks, student_tok, _ = data
    enc = encode_examples(student_tok, tasks["score"].splits["train"], tasks["score"].kind, 32)
    heads = [HeadSpec(t, d.config.type, tuple(d.labels)) for t, d in tasks.items()]
    student = MultiTaskModel.from_config(TINY_STUDENT, heads, student_tok).eval()
    objective = DistillationObjective(None, student, tasks, DistillConfig(), taught={"category"})
    batch = collate(enc, list(range(8)), student_tok.pad_token_id, False)
    logits = student(**{k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}).logits["score"]
    hard = student.task_loss("score", logits, batch["labels"])
    assert torch.allclose(objective(student, "score", batch), hard)  # exactly its supervised loss, no teacher term


def test_a_row_without_an_answer_learns_from_its_label_alone():
    from distill.tasks import task_type

    task = type("T", (), {"kind": task_type("classification")})()
    cfg = DistillConfig(logits=LogitsKD(alpha=0.5, temperature=1.0))
    objective = DistillationObjective.__new__(DistillationObjective)
    torch.nn.Module.__init__(objective)
    objective.tasks, objective.cfg = {"c": task}, cfg
    student = torch.tensor([[1.0, 0.0, -1.0], [0.5, 0.2, 0.1]])
    teacher = torch.tensor([[0.0, 2.0, 0.0], [float("nan")] * 3])
    labels = torch.tensor([0, 2])
    got = objective._prediction_loss("c", student, teacher, labels, None)
    kd = torch.nn.functional.kl_div(
        torch.log_softmax(student[:1], -1), torch.log_softmax(teacher[:1], -1), log_target=True, reduction="batchmean"
    )
    ce = torch.nn.functional.cross_entropy
    expected = (0.5 * kd + 0.5 * ce(student[:1], labels[:1]) + ce(student[1:], labels[1:])) / 2
    torch.testing.assert_close(got, expected)


def test_mismatched_labels_name_both_sides_and_a_label_map_fixes_them(data, tmp_path):
    _, tasks, _, teacher_tok = data
    cat = tasks["category"]
    renamed = [f"cat-{n}" for n in cat.labels]
    save_sequence_teacher(tmp_path / "t", cat, teacher_tok, labels=renamed)
    with pytest.raises(TeacherMismatch, match=r"only the teacher has 'cat-.*only the data has"):
        load_teachers(TeacherSources(checkpoints={"category": str(tmp_path / "t")}), tasks)
    fixed = TeacherSources(
        checkpoints={"category": str(tmp_path / "t")},
        label_maps={"category": {f"cat-{n}": n for n in cat.labels}},
    )
    loaded = load_teachers(fixed, tasks)
    assert loaded.teachers["category"].order == list(range(len(cat.labels)))
    save_sequence_teacher(tmp_path / "more", cat, teacher_tok, labels=["other", *cat.labels])  # one label more
    with pytest.raises(TeacherMismatch, match=r"only the teacher has 'other'; only the data has none"):
        load_teachers(TeacherSources(checkpoints={"category": str(tmp_path / "more")}), tasks)
    dropped = TeacherSources(checkpoints={"category": str(tmp_path / "more")}, label_maps={"category": {"other": None}})
    assert load_teachers(dropped, tasks).teachers["category"].order == list(range(1, len(cat.labels) + 1))


def test_a_wrong_model_class_is_named(data, teachers):
    _, tasks, _, _ = data
    sources, _, _ = teachers
    swapped = TeacherSources(checkpoints={"category": sources.checkpoints["attributes"]})
    with pytest.raises(TeacherMismatch, match=r"BertForTokenClassification.*needs a \*ForSequenceClassification"):
        load_teachers(swapped, tasks)


def write_outputs(path, rows, labels=None):
    with path.open("w", encoding="utf-8") as f:
        if labels is not None:
            f.write(json.dumps({"labels": labels}) + "\n")
        for row in rows:
            f.write((row if isinstance(row, str) else json.dumps(row)) + "\n")


def test_precomputed_probabilities_become_the_kd_targets(data, tmp_path):
    _, tasks, student_tok, _ = data
    cat = tasks["category"]
    labels = list(reversed(cat.labels))
    probs = {ex.id: torch.softmax(torch.randn(len(labels)), -1) for ex in cat.splits["train"]}
    write_outputs(tmp_path / "o.jsonl", [{"id": i, "probs": p.tolist()} for i, p in probs.items()], labels)
    loaded = load_teachers(TeacherSources(outputs={"category": str(tmp_path / "o.jsonl")}), tasks)
    enc = {"category": encode_examples(student_tok, cat.splits["train"], cat.kind, 32)}
    got = student_targets(loaded, {"category": cat}, enc, student_tok).logits["category"][3]
    expected = torch.log(probs[cat.splits["train"][3].id]).flip(-1)
    torch.testing.assert_close(torch.softmax(got, -1), torch.softmax(expected, -1))
    assert loaded.test_metrics() == {}  # no test rows in the file: the teacher is not scored


def test_outputs_file_errors_name_the_line_and_the_missing_ids(data, tmp_path):
    _, tasks, _, _ = data
    cat = tasks["category"]
    train = cat.splits["train"]
    good = [{"id": ex.id, "logits": [0.0] * len(cat.labels)} for ex in train]
    write_outputs(tmp_path / "short.jsonl", good[:-2], cat.labels)
    with pytest.raises(DataError, match=f"2 of {len(train)} training rows .* have no teacher output"):
        OutputsTeacher.load(tmp_path / "short.jsonl", cat)
    bad = [*good[:3], {"id": train[3].id, "logits": [0.0]}, "{not json", *good[4:]]
    write_outputs(tmp_path / "bad.jsonl", bad, cat.labels)
    with pytest.raises(DataError, match=r"bad\.jsonl:5: logits has shape \[1\]"):
        OutputsTeacher.load(tmp_path / "bad.jsonl", cat)
    skipped = OutputsTeacher.load(tmp_path / "bad.jsonl", cat, on_error="skip")
    assert skipped.report["skipped"] == 2 and skipped.report["train_rows_without_output"] == 1
    assert skipped.outputs([train[3]]) == [None]
    unkeyed = tasks["score"]
    with pytest.raises(TeacherMismatch, match=r"set tasks\.score\.id"):
        OutputsTeacher.load(tmp_path / "bad.jsonl", unkeyed)


def test_an_augmented_copy_decodes_back_to_its_text(data):
    _, tasks, student_tok, _ = data
    for name in ("category", "attributes", "score"):
        task = tasks[name]
        enc = encode_examples(student_tok, task.splits["train"][:4], task.kind, 64)
        for i, ex in enumerate(task.splits["train"][:4]):
            back = decoded_copy(enc, i, student_tok, ex)
            if task.kind.per_token:
                assert [w.lower() for w in back.text] == [w.lower() for w in ex.text]
            else:
                assert back.text.replace(" ", "") == ex.text.lower().replace(" ", "")
                if ex.text_pair is not None:  # a pair comes back as its two texts
                    assert back.text_pair.replace(" ", "") == ex.text_pair.lower().replace(" ", "")


def test_augmented_copies_are_scored_afresh_by_a_checkpoint_and_keep_a_files_answer(data, teachers, tmp_path):
    from distill.augmentation import augment_split
    from distill.config import AugmentConfig

    _, tasks, student_tok, teacher_tok = data
    sources, seq, _ = teachers
    cat = tasks["category"]
    plain = encode_examples(student_tok, cat.splits["train"], cat.kind, 32)
    split = augment_split(plain, AugmentConfig(method="mask", max_examples=4, prob=0.3), student_tok, 0, "category")
    copies = [i for i, synthetic in enumerate(split.synthetic) if synthetic]
    assert copies and all(split.source[i] < len(plain) for i in copies)

    loaded = load_teachers(TeacherSources(checkpoints={"category": sources.checkpoints["category"]}), tasks)
    got = student_targets(loaded, tasks, {"category": split}, student_tok).logits["category"]
    first = copies[0]
    text = decoded_copy(split, first, student_tok, cat.splits["train"][split.source[first]]).text
    assert "[MASK]" in text  # the masked copy, not its original, is what the teacher reads
    with torch.no_grad():
        own = seq(**teacher_tok([text], return_tensors="pt")).logits[0].flip(-1)  # id2label was reversed
    torch.testing.assert_close(got[first], own, rtol=1e-4, atol=1e-5)

    answers = {ex.id: [float(i), 0.0, *[0.0] * (len(cat.labels) - 2)] for i, ex in enumerate(cat.splits["train"])}
    write_outputs(tmp_path / "o.jsonl", [{"id": k, "logits": v} for k, v in answers.items()], cat.labels)
    from_file = load_teachers(TeacherSources(outputs={"category": str(tmp_path / "o.jsonl")}), tasks)
    kept = student_targets(from_file, tasks, {"category": split}, student_tok).logits["category"]
    assert float(kept[first][0]) == float(split.source[first])  # a file cannot score new text: the original's


def test_a_multi_label_task_takes_a_multi_label_checkpoint_only():
    from types import SimpleNamespace

    from transformers import BertConfig

    from distill.tasks import task_type
    from distill.teachers.checkpoint import check_task_fit

    kind = task_type("multilabel_classification")
    task = SimpleNamespace(name="tags", kind=kind, config=SimpleNamespace(type="multilabel_classification"))
    config = BertConfig(architectures=["BertForSequenceClassification"], problem_type="single_label_classification")
    with pytest.raises(TeacherMismatch, match=r"for single_label_classification.*multi_label_classification"):
        check_task_fit("teacher.checkpoints.tags", config, task)
    config.problem_type = "multi_label_classification"
    check_task_fit("teacher.checkpoints.tags", config, task)  # fits: no error
    config.problem_type = None  # saved without one: the class alone decides
    check_task_fit("teacher.checkpoints.tags", config, task)
