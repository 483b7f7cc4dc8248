"""Transfer sets: inputs beyond the labelled rows, scored once by the teacher (resumably), joined as teacher-only
rows."""

from __future__ import annotations

import json

import pytest
import torch

from distill.api import PipelineCaches, distil
from distill.config import (
    DataConfig,
    DistillConfig,
    LogitsKD,
    ModelConfig,
    StudentModelConfig,
    TaskConfig,
    TokenizerConfig,
    TrainConfig,
)
from distill.data.loading import load_tasks
from distill.errors import DataError, MtkdError
from distill.model import HeadSpec, MultiTaskModel
from distill.tokenization import build_tokenizer
from distill.transfer import GeneratedPairs, TaskTransfer, TransferConfig, TransferFile
from distill.transfer.inputs import transfer_inputs
from distill.transfer.pairs import generated_pairs
from distill.transfer.scores import model_scorer, score_transfer
from distill.workspace import Workspace
from tests.conftest import TINY_MODEL, builtin_task

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def tasks():
    cfgs = {
        "score": TaskConfig(**builtin_task("score", 300), max_train=120),
        "category": TaskConfig(**builtin_task("category", 200)),
    }
    return load_tasks(cfgs, seed=0, data=DataConfig())


@pytest.fixture(scope="module")
def teacher(tasks):
    tok = build_tokenizer(TokenizerConfig(train="wordpiece", vocab_size=400), tasks)
    torch.manual_seed(0)
    heads = [HeadSpec(t, d.config.type, tuple(d.labels)) for t, d in tasks.items()]
    return MultiTaskModel.from_config(ModelConfig(**TINY_MODEL), heads, tok).eval(), tok


def test_a_cap_keeps_the_rows_it_left_out_as_unlabelled_inputs(tasks):
    score = tasks["score"]
    assert len(score.splits["train"]) == 120 and len(score.unused) > 50
    assert all(ex.target is None and ex.text_pair for ex in score.unused)
    inputs = transfer_inputs(score, TaskTransfer(unused_rows=True), seed=0)
    train = {(ex.text, ex.text_pair) for ex in score.splits["train"]}
    keys = [(ex.text, ex.text_pair) for ex in inputs.examples]
    assert len(keys) == len(set(keys)) and not train & set(keys)  # each once, none a training input
    assert inputs.counts == {"unused_rows": len(keys)}


def test_generated_pairs_take_similar_titles_of_other_queries(tasks):
    score = tasks["score"]
    pairs = generated_pairs(score, GeneratedPairs(random=1, nearest=2), seed=0)
    own = {}
    for ex in [*score.splits["train"], *score.unused]:
        own.setdefault(ex.text, set()).add(ex.text_pair)
    queries = {ex.text for ex in score.splits["train"]}
    assert {ex.text for ex in pairs} == queries
    assert all(ex.text_pair not in own[ex.text] for ex in pairs)  # never a query's own title
    by_query = {}
    for ex in pairs:
        by_query.setdefault(ex.text, []).append(ex.text_pair)
    assert max(len(v) for v in by_query.values()) == 3
    # the nearest ones share a word with their query (TF-IDF cosine above 0)
    nearest = [(q, ts[0]) for q, ts in by_query.items() if len(ts) == 3]
    assert all(set(q.lower().split()) & set(t.lower().split()) for q, t in nearest)
    assert generated_pairs(score, GeneratedPairs(random=1, nearest=2), seed=0) == pairs  # seeded


def test_files_of_texts_and_pairs_with_bad_lines_raise_or_are_counted(tasks, tmp_path):
    pairs_file = tmp_path / "log.txt"
    pairs_file.write_bytes(
        b"drill bits\tdewalt drill 20v\n\nsolo query\nok\t\xff\xfe bad bytes\na\tb\tc\nsaw\tcircular saw\n"
    )
    score = tasks["score"]
    cfg = TaskTransfer(files=[str(pairs_file)])
    with pytest.raises(DataError, match=r"log\.txt:2: empty line"):
        transfer_inputs(score, cfg, seed=0)
    got = transfer_inputs(score, cfg, seed=0, on_error="skip")
    assert [(ex.text, ex.text_pair) for ex in got.examples] == [
        ("drill bits", "dewalt drill 20v"),
        ("saw", "circular saw"),
    ]
    assert got.skipped["total"] == 4  # the empty line, a one-text line, the bytes, three fields
    assert any("not valid utf-8" in s for s in got.skipped["samples"])
    assert got.skipped["by_reason"]["empty line"] == 1
    # a file of pairs for a task that reads one text
    with pytest.raises(DataError, match="a pair for task category"):
        transfer_inputs(tasks["category"], cfg, seed=0)
    csv = tmp_path / "titles.csv"
    csv.write_text("title,brand\ncordless drill,acme\n", encoding="utf-8")
    with pytest.raises(DataError, match="no column 'text'"):
        transfer_inputs(tasks["category"], TaskTransfer(files=[TransferFile(path=str(csv))]), seed=0)
    one = transfer_inputs(tasks["category"], TaskTransfer(files=[TransferFile(path=str(csv), text="title")]), seed=0)
    assert [ex.text for ex in one.examples] == ["cordless drill"]
    with pytest.raises(ValueError, match="file not found"):
        TransferFile(path=str(tmp_path / "missing.jsonl"))
    with pytest.raises(DataError, match="reads one text, not query-title pairs"):
        transfer_inputs(tasks["category"], TaskTransfer(pairs=GeneratedPairs()), seed=0)


def test_scores_written_in_chunks_resume_after_a_kill_with_the_same_tensors(tasks, teacher, tmp_path):
    model, tok = teacher
    inputs = {"score": transfer_inputs(tasks["score"], TaskTransfer(unused_rows=True), seed=0).examples}
    scorer = model_scorer(model, tok, 32, CPU, batch_size=16)
    whole = score_transfer(scorer, inputs, tmp_path / "a", "k", chunk_rows=20)["score"]
    calls = []

    def killed_after_two(task, rows):
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process dies mid-scoring
        calls.append(len(rows))
        return scorer(task, rows)

    with pytest.raises(KeyboardInterrupt):
        score_transfer(killed_after_two, inputs, tmp_path / "b", "k", chunk_rows=20)
    assert len(list((tmp_path / "b").glob("score-*.safetensors"))) == 2
    resumed_calls = []

    def counting(task, rows):
        resumed_calls.append(len(rows))
        return scorer(task, rows)

    resumed = score_transfer(counting, inputs, tmp_path / "b", "k", chunk_rows=20)["score"]
    assert torch.equal(resumed, whole)
    assert sum(resumed_calls) == len(inputs["score"]) - 40  # only what the killed run had not written
    # the teacher's own outputs, row for row
    direct = scorer("score", inputs["score"][:5])
    assert torch.allclose(whole[:5], direct, atol=1e-6)
    lines = (tmp_path / "a" / "inputs-score.jsonl").read_text().splitlines()
    assert json.loads(lines[0]) == {"text": inputs["score"][0].text, "text_pair": inputs["score"][0].text_pair}
    with pytest.raises(RuntimeError, match="another transfer set"):
        score_transfer(scorer, inputs, tmp_path / "a", "other", chunk_rows=20)


def test_distil_learns_from_transfer_rows_labelled_by_the_teacher(tasks, teacher, tmp_path, monkeypatch):
    model, tok = teacher
    transfer = TransferConfig(
        tasks={"score": TaskTransfer(unused_rows=True, pairs=GeneratedPairs(random=1, nearest=1, max_queries=20))}
    )
    kd = DistillConfig(logits=LogitsKD(alpha=0.5), transfer=transfer)
    train = TrainConfig(epochs=1, batch_size=16, lr=3e-3, max_len=32, warmup=0.0)
    shape = StudentModelConfig(**TINY_MODEL)
    done = distil(model, shape, Workspace(tasks, tok, tmp_path / "student", seed=0), kd, train)
    report = done.transfer["score"]
    assert report["from"]["unused_rows"] > 50 and report["from"]["pairs"] > 0
    split = done.encoded["score"]["train"]
    n_real = len(tasks["score"].splits["train"])
    assert len(split) == n_real + report["inputs"]
    assert split.synthetic == [False] * n_real + [True] * report["inputs"]
    assert "category" not in done.transfer and not done.encoded["category"]["train"].synthetic
    assert set(done.intervals["score"]) == {"rmse", "pearson", "spearman", "ndcg@10"}
    # scored once into the cache; a second student of the same teacher reuses them without scoring again
    store = next((tmp_path / "student" / "cache").glob("transfer-*"))
    assert len(list(store.glob("score-*.safetensors"))) >= 1

    def never(*_):
        raise AssertionError("the teacher scored transfer inputs again")

    monkeypatch.setattr("distill.teacher_adapters.model_scorer", lambda *a, **k: never)
    work, caches = Workspace(tasks, tok, tmp_path / "s2", seed=1), PipelineCaches(transfer=store.parent, data_seed=0)
    again = distil(model, shape, work, kd, train.model_copy(update={"max_steps": 2}), caches=caches)
    assert again.transfer == done.transfer


def test_transfer_is_refused_for_a_task_without_a_teacher_or_tags(tasks, teacher, tmp_path):
    model, tok = teacher
    kd = DistillConfig(transfer=TransferConfig(tasks={"nope": TaskTransfer(unused_rows=True)}))
    with pytest.raises(MtkdError, match=r"transfer\.tasks\.nope: no such task"):
        distil(model, StudentModelConfig(**TINY_MODEL), Workspace(tasks, tok, tmp_path), kd, TrainConfig(max_steps=1))
    with pytest.raises(ValueError, match=r"needs distill\.logits"):
        DistillConfig(logits=None, transfer=TransferConfig(tasks={"score": TaskTransfer(unused_rows=True)}))
    with pytest.raises(ValueError, match="needs files, unused_rows: true or pairs"):
        TaskTransfer()
