"""The multi-task model: every head type, optional internals, save/reload, pretrained encoders."""

from __future__ import annotations

import pytest
import torch
from transformers import BertModel

from distill.config import ModelConfig
from distill.errors import ArtifactError, MtkdError
from distill.model import HeadSpec, MultiTaskModel
from distill.tokenization import train_wordpiece
from tests.conftest import tiny_bert_config

HEADS = [
    HeadSpec("cat", "classification", ("a", "b", "c")),
    HeadSpec("score", "regression", ()),
    HeadSpec("tags", "token_classification", ("O", "B-X", "I-X")),
    HeadSpec("multi", "multilabel_classification", ("x", "y")),
]
CFG = ModelConfig(layers=2, hidden=32, heads=2, intermediate=64, max_position=64)


@pytest.fixture(scope="module")
def tokenizer():
    return train_wordpiece(["red leather boots", "blue cotton shirt", "phone case black"] * 10, 100, 1)


@pytest.fixture
def batch(tokenizer):
    enc = tokenizer(["red boots", "blue cotton shirt case"], padding=True, return_tensors="pt")
    return {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids")}


def test_forward_returns_every_head_under_its_task_name(tokenizer, batch):
    torch.manual_seed(0)
    model = MultiTaskModel.from_config(CFG, HEADS, tokenizer).eval()
    out = model(**batch)
    b, length = batch["input_ids"].shape
    assert out.logits["cat"].shape == (b, 3)
    assert out.logits["score"].shape == (b, 1)
    assert out.logits["tags"].shape == (b, length, 3)
    assert out.logits["multi"].shape == (b, 2)
    assert out.hidden_states is None and out.attentions is None
    only = model(**batch, tasks=["cat"], output_hidden_states=True, output_attentions=True)
    assert list(only.logits) == ["cat"]
    assert len(only.hidden_states) == 3 and only.attentions[0].shape == (b, 2, length, length)


def test_save_and_reload_gives_identical_outputs(tokenizer, batch, tmp_path):
    torch.manual_seed(0)
    model = MultiTaskModel.from_config(CFG, HEADS, tokenizer).eval()
    model.save_pretrained(tmp_path / "m", tokenizer)
    again = MultiTaskModel.from_pretrained(tmp_path / "m").eval()
    assert again.head_specs == model.head_specs
    with torch.no_grad():
        a, b = model(**batch), again(**batch)
    for task in a.logits:
        assert torch.equal(a.logits[task], b.logits[task])
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temporary leftovers


def test_incomplete_directory_is_refused_with_the_file_named(tokenizer, tmp_path):
    MultiTaskModel.from_config(CFG, HEADS, tokenizer).save_pretrained(tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").unlink()
    with pytest.raises(ArtifactError, match=r"model.safetensors: missing"):
        MultiTaskModel.from_pretrained(tmp_path / "m")


def test_encoder_from_a_locally_saved_bert_checkpoint(tokenizer, tmp_path, batch):
    torch.manual_seed(1)
    bert = BertModel(tiny_bert_config(len(tokenizer), hidden=48, heads=3))
    bert.save_pretrained(tmp_path / "bert")
    tokenizer.save_pretrained(tmp_path / "bert")
    cfg = ModelConfig(from_pretrained=str(tmp_path / "bert"))
    model = MultiTaskModel.from_config(cfg, HEADS[:1], tokenizer).eval()
    assert model.config.hidden_size == 48
    assert torch.equal(model.encoder.embeddings.word_embeddings.weight, bert.embeddings.word_embeddings.weight)
    assert model(**batch).logits["cat"].shape == (2, 3)


def test_missing_pretrained_encoder_is_a_clear_error(tokenizer, tmp_path):
    with pytest.raises(MtkdError, match=r"checkpoint '.*nope': no such directory; tried local directory"):
        MultiTaskModel.from_config(ModelConfig(from_pretrained=str(tmp_path / "nope")), HEADS, tokenizer)


def test_from_pretrained_puts_every_parameter_and_buffer_on_the_requested_device(tokenizer, tmp_path):
    # `meta` stands in for a GPU here: weights read onto a device and copied into CPU-built modules used to
    # leave the model on the CPU (and safetensors cannot read onto `meta` at all)
    MultiTaskModel.from_config(CFG, HEADS, tokenizer).save_pretrained(tmp_path / "m", tokenizer)
    model = MultiTaskModel.from_pretrained(tmp_path / "m", map_location="meta")
    tensors = [*model.parameters(), *model.buffers()]
    assert tensors and {t.device.type for t in tensors} == {"meta"}
    cpu = MultiTaskModel.from_pretrained(tmp_path / "m")
    assert {t.device.type for t in [*cpu.parameters(), *cpu.buffers()]} == {"cpu"}
