"""General (task-agnostic) distillation: the text it reads, the shapes it refuses, what it learns, its cache and
its resume after a kill."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError
from safetensors.torch import load_file
from transformers import BertConfig, BertModel

from distill.config import StudentModelConfig, TaskConfig, TokenizerConfig
from distill.data.loading import load_tasks
from distill.errors import DataError, MtkdError
from distill.general import GeneralDistillConfig, cached_general, distil_general, general_corpus
from distill.general.train import TextBatches
from distill.model import MultiTaskModel, head_spec
from distill.tokenization import build_tokenizer
from distill.transfer.config import TransferConfig
from distill.workspace import Placement
from tests.conftest import builtin_task

SHAPE = StudentModelConfig(layers=1, hidden=16, heads=2, intermediate=32, max_position=64)


@pytest.fixture(scope="module")
def tasks():
    raw = {"category": builtin_task("category", 160), "score": builtin_task("score", 160)}
    return load_tasks({name: TaskConfig.model_validate(spec) for name, spec in raw.items()})


@pytest.fixture(scope="module")
def tokenizer(tasks):
    return build_tokenizer(TokenizerConfig(train="wordpiece", vocab_size=400), tasks)


@pytest.fixture(scope="module")
def teacher(tokenizer):
    torch.manual_seed(0)
    config = BertConfig(  # a random teacher: its relations are still a target the student can be measured against
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64
    )
    return BertModel(config, add_pooling_layer=False).eval()


def test_the_text_is_every_task_input_and_both_sides_of_pairs_and_the_user_s_files(tasks, tmp_path):
    extra = tmp_path / "titles.txt"
    extra.write_text("walnut side table\nred kettle\tkettle electric red\n", encoding="utf-8")
    corpus = general_corpus(tasks, GeneralDistillConfig(files=[str(extra)]))
    pair = next(ex for ex in tasks["score"].splits["train"])
    assert (pair.text, pair.text_pair) in corpus.texts  # the pair as the head reads it
    assert (pair.text, None) in corpus.texts and (pair.text_pair, None) in corpus.texts  # and each side alone
    assert ("walnut side table", None) in corpus.texts and ("red kettle", "kettle electric red") in corpus.texts
    dev = {ex.text for t in tasks.values() for ex in t.splits["dev"]} - {
        ex.text for t in tasks.values() for ex in t.splits["train"]
    }
    assert not dev & {text for text, _ in corpus.texts}  # never a dev or test input
    assert len(set(corpus.texts)) == len(corpus.texts) and corpus.counts[f"file:{extra}"] == 4
    capped = general_corpus(tasks, GeneralDistillConfig(max_texts=50))
    assert len(capped) == 50 and capped.fingerprint() != corpus.fingerprint()
    transfer = TransferConfig.model_validate({"tasks": {"score": {"pairs": {"nearest": 1, "random": 1}}}})
    more = general_corpus(tasks, GeneralDistillConfig(), transfer)
    assert more.counts["transfer:score"] > 0 and len(more) > len(general_corpus(tasks, GeneralDistillConfig()))


def test_bad_unlabelled_files_are_one_line_errors_before_training(tasks, tmp_path):
    with pytest.raises(ValidationError, match="file not found"):
        GeneralDistillConfig(files=[str(tmp_path / "missing.txt")])
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match=r"empty\.txt: no text in the file"):
        general_corpus(tasks, GeneralDistillConfig(files=[str(empty)]))
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9 table\n".encode("latin-1") + b"oak desk\n")
    with pytest.raises(DataError, match=r"latin.txt:1: not valid utf-8"):
        general_corpus(tasks, GeneralDistillConfig(files=[str(latin)]))
    skipped = general_corpus(tasks, GeneralDistillConfig(files=[str(latin)]), on_error="skip")
    assert ("oak desk", None) in skipped.texts and sum(skipped.skipped.values()) == 1


def test_shapes_the_teacher_cannot_be_distilled_into_are_refused_before_training(tasks, tokenizer, teacher, tmp_path):
    texts = general_corpus(tasks, GeneralDistillConfig()).texts[:20]

    def attempt(shape, **cfg):
        distil_general(teacher, shape, tokenizer, texts, GeneralDistillConfig(**cfg), Placement(tmp_path / "x"))

    with pytest.raises(MtkdError, match="teacher_layer 3 is not a layer"):
        attempt(SHAPE, teacher_layer=3)
    with pytest.raises(MtkdError, match="relation_heads \\(3\\) must divide both widths"):
        attempt(SHAPE, relation_heads=3)
    with pytest.raises(MtkdError, match="64 wide cannot start from the teacher's 32-wide embeddings"):
        attempt(StudentModelConfig(layers=1, hidden=64, heads=2))
    assert not (tmp_path / "x").exists()


def test_the_student_learns_the_teacher_s_relations_and_starts_a_multi_task_student(
    tasks, tokenizer, teacher, tmp_path
):
    texts = general_corpus(tasks, GeneralDistillConfig()).texts
    cfg = GeneralDistillConfig(epochs=4, batch_size=16, lr=3e-3, warmup=0.0, hidden_weight=1.0)
    done = distil_general(teacher, SHAPE, tokenizer, texts, cfg, Placement(tmp_path / "g"))
    losses = [row["held_out_loss"] for row in done.history]
    assert losses[-1] < 0.8 * losses[0], losses  # held-out relation (+ hidden) loss falls
    heads = [head_spec(t) for t in tasks.values()]
    student = MultiTaskModel.from_config(StudentModelConfig(from_pretrained=str(done.path)), heads, tokenizer)
    assert student.config.hidden_size == 16 and student.config.num_hidden_layers == 1
    saved = load_file(done.path / "model.safetensors")
    for name, tensor in student.encoder.state_dict().items():
        assert torch.equal(tensor, saved[name])  # the distilled weights, every one of them


def test_the_cache_is_reused_by_a_second_sweep_and_keyed_by_shape(tasks, tokenizer, teacher, tmp_path, monkeypatch):
    monkeypatch.setenv("MTKD_CACHE", str(tmp_path))
    corpus = general_corpus(tasks, GeneralDistillConfig(max_texts=64))
    cfg = GeneralDistillConfig(epochs=1, batch_size=16)

    def must_not_load():
        raise AssertionError("the cached encoder was trained again")

    first = cached_general(lambda: teacher, "t", SHAPE, tokenizer, corpus, cfg)
    again = cached_general(must_not_load, "t", SHAPE, tokenizer, corpus, cfg)
    assert not first.reused and again.reused and again.path == first.path and again.key == first.key
    assert again.record["steps"] == first.record["steps"] > 0
    wider = StudentModelConfig(layers=1, hidden=32, heads=2, intermediate=32, max_position=64)
    other = cached_general(lambda: teacher, "t", wider, tokenizer, corpus, cfg)
    assert not other.reused and other.key != first.key
    other_teacher = cached_general(lambda: teacher, "t2", SHAPE, tokenizer, corpus, cfg)
    assert other_teacher.key != first.key


def test_a_run_killed_midway_resumes_to_the_same_weights(tasks, tokenizer, teacher, tmp_path, monkeypatch):
    texts = general_corpus(tasks, GeneralDistillConfig(max_texts=96)).texts
    cfg = GeneralDistillConfig(epochs=2, batch_size=16, checkpoint_every=3)  # dropout on: RNG state matters too
    whole = distil_general(teacher, SHAPE, tokenizer, texts, cfg, Placement(tmp_path / "whole", seed=1))
    original = TextBatches.step

    def killed(self, epoch, i):
        if epoch == 1 and i == 2:
            raise KeyboardInterrupt("killed")
        return original(self, epoch, i)

    monkeypatch.setattr(TextBatches, "step", killed)
    with pytest.raises(KeyboardInterrupt):
        distil_general(teacher, SHAPE, tokenizer, texts, cfg, Placement(tmp_path / "killed", seed=1))
    monkeypatch.setattr(TextBatches, "step", original)
    resumed = distil_general(teacher, SHAPE, tokenizer, texts, cfg, Placement(tmp_path / "killed", seed=1, resume=True))
    assert resumed.steps == whole.steps
    a, b = load_file(whole.path / "model.safetensors"), load_file(resumed.path / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
