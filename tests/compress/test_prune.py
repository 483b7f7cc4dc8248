"""Structured pruning: scores rank what matters, surgery equals masking, pruned models reload and export."""

from __future__ import annotations

import json

import pydantic
import pytest
import torch
import transformers
from packaging.version import Version
from transformers import AutoTokenizer

from compress.onnx.export import export_onnx
from compress.prune import IMPORTANCES, drop_layers, prune_ffn, prune_heads
from compress.prune.importance import head_mask_applied
from distill.config import ModelConfig, TaskConfig
from distill.encoding import collate, model_inputs
from distill.errors import MtkdError
from distill.model import HeadSpec, MultiTaskModel
from tests.conftest import builtin_task, prepare_tasks


@pytest.fixture(scope="module")
def setup():
    cfgs = {name: TaskConfig(**builtin_task(name, 120)) for name in ("category", "attributes")}
    tasks, tok, enc = prepare_tasks(cfgs, vocab_size=300)
    heads = [HeadSpec(n, t.kind.name, tuple(t.labels)) for n, t in tasks.items()]
    batches = []
    for name, task in tasks.items():
        split = enc[name]["train"]
        tags = task.kind.label_kind == "tags"
        batches += [(name, collate(split, list(range(i, i + 8)), tok.pad_token_id, tags)) for i in (0, 8)]
    return heads, tok, batches


def fresh(setup) -> MultiTaskModel:
    heads, tok, _ = setup
    torch.manual_seed(0)
    cfg = ModelConfig(layers=2, hidden=32, heads=4, intermediate=64, max_position=64, dropout=0, attention_dropout=0)
    return MultiTaskModel.from_config(cfg, heads, tok).eval()


def outputs(model, batch, **kw):
    with torch.no_grad():
        return model(**model_inputs(batch[1]), **kw).logits


def test_magnitude_ranks_a_zeroed_head_and_neuron_lowest(setup):
    model = fresh(setup)
    layer = model.encoder.encoder.layer[0]
    with torch.no_grad():
        for lin in (layer.attention.self.query, layer.attention.self.key, layer.attention.self.value):
            lin.weight[16:24] = 0  # head 2 of 4 (head size 8)
        layer.attention.output.dense.weight[:, 16:24] = 0
        layer.intermediate.dense.weight[5] = 0
        layer.output.dense.weight[:, 5] = 0
    scores = IMPORTANCES.get("magnitude")().score(model)
    assert int(scores.heads[0].argmin()) == 2 and float(scores.heads[0][2]) == 0
    assert int(scores.ffn[0].argmin()) == 5 and [len(h) for h in scores.heads] == [4, 4]


def test_removing_a_head_or_neuron_equals_masking_it(setup):
    _, _, batches = setup
    model, reference = fresh(setup), fresh(setup)
    prune_heads(model, {0: [1]})
    assert model.encoder.encoder.layer[0].attention.self.query.weight.shape == (24, 32)  # 3 heads of 8 left
    mask = torch.ones(2, 4)
    mask[0, 1] = 0
    enc = model_inputs(batches[0][1])
    with torch.no_grad(), head_mask_applied(reference, mask):
        masked = reference.heads["category"](reference.encoder(**enc).last_hidden_state)
    torch.testing.assert_close(outputs(model, batches[0])["category"], masked, atol=1e-5, rtol=1e-5)
    keep = torch.tensor([i for i in range(64) if i != 7])
    prune_ffn(model, {1: keep})
    with torch.no_grad(), head_mask_applied(reference, mask):
        reference.encoder.encoder.layer[1].output.dense.weight[:, 7] = 0  # the neuron's contribution gone
        masked = reference.heads["category"](reference.encoder(**enc).last_hidden_state)
    torch.testing.assert_close(outputs(model, batches[0])["category"], masked, atol=1e-5, rtol=1e-5)


def test_pruned_model_is_smaller_reloads_identically_and_exports(setup, tmp_path):
    _, tok, batches = setup
    model = fresh(setup)
    before = model.num_parameters(encoder_only=True)
    prune_heads(model, {0: [0, 3], 1: [2]})
    prune_heads(model, {0: [0]})  # indices are current: this removes original head 1 of layer 0
    prune_ffn(model, {0: torch.arange(32), 1: torch.arange(0, 64, 4)})
    assert model.config.heads_per_layer == [1, 3] and not model.config.pruned_heads  # mtkd's record, not transformers'
    assert model.encoder.encoder.layer[0].attention.self.query.weight.shape == (8, 32)
    per_head = 3 * (8 * 32 + 8) + 8 * 32  # Q, K, V rows with biases, output columns (hidden 32, head size 8)
    per_neuron = 32 + 1 + 32  # intermediate row with bias, output column
    assert before - model.num_parameters(encoder_only=True) == 4 * per_head + (32 + 48) * per_neuron
    drop_layers(model, [0])  # layer 1 becomes layer 0: its pruned heads and FFN width follow
    assert model.config.num_hidden_layers == 1 and model.config.ffn_sizes == [16]
    assert model.config.heads_per_layer == [3]
    expected = [outputs(model, (task, batch))[task] for task, batch in batches]
    model.save_pretrained(tmp_path / "pruned", tok)
    again = MultiTaskModel.from_pretrained(tmp_path / "pruned").eval()
    for (task, batch), want in zip(batches, expected, strict=True):
        torch.testing.assert_close(outputs(again, (task, batch))[task], want)
    manifest = export_onnx(tmp_path / "pruned", tmp_path / "onnx")  # parity against torch enforced inside
    assert max(r["max_abs_diff"] for r in manifest["parity_vs_torch"].values()) < 1e-4


@pytest.mark.parametrize("name", ["taylor", "head_mask"])
def test_data_driven_scores_cover_every_head_and_neuron_and_see_a_dead_head(setup, name):
    _, _, batches = setup
    model = fresh(setup)
    with torch.no_grad():  # head 3 of layer 1 outputs nothing: no gradient can flow through it
        model.encoder.encoder.layer[1].attention.self.value.weight[24:32] = 0
        model.encoder.encoder.layer[1].attention.self.value.bias[24:32] = 0
        model.encoder.encoder.layer[1].attention.output.dense.weight[:, 24:32] = 0
    scores = IMPORTANCES.get(name)().score(model, batches)
    assert [h.shape for h in scores.heads] == [torch.Size([4])] * 2 and [f.shape for f in scores.ffn] == [(64,)] * 2
    assert all((h >= 0).all() for h in scores.heads) and float(scores.heads[1][3]) == pytest.approx(0, abs=1e-9)
    assert float(scores.heads[1][:3].min()) > 0 and scores.layers().shape == (2,)


def test_surgery_refuses_to_empty_a_layer(setup):
    model = fresh(setup)
    with pytest.raises(MtkdError, match="all 4 heads"):
        prune_heads(model, {0: [0, 1, 2, 3]})
    with pytest.raises(MtkdError, match="every FFN neuron"):
        prune_ffn(model, {0: []})
    with pytest.raises(MtkdError, match="every layer"):
        drop_layers(model, [0, 1])


def test_removing_heads_and_neurons_of_zero_importance_leaves_outputs_unchanged(setup):
    _, _, batches = setup
    model = fresh(setup)
    layer = model.encoder.encoder.layer[1]
    with torch.no_grad():  # head 0 and neurons 10..19 contribute nothing: their output weights are zero
        layer.attention.self.value.weight[0:8] = 0
        layer.attention.self.value.bias[0:8] = 0
        layer.attention.output.dense.weight[:, 0:8] = 0
        layer.output.dense.weight[:, 10:20] = 0
    before = [outputs(model, b)[b[0]] for b in batches]
    scores = IMPORTANCES.get("taylor")().score(model, batches)
    assert float(scores.heads[1][0]) == 0 and float(scores.ffn[1][10:20].abs().sum()) == 0
    prune_heads(model, {1: [0]})
    prune_ffn(model, {1: torch.tensor([i for i in range(64) if not 10 <= i < 20])})
    for b, want in zip(batches, before, strict=True):
        torch.testing.assert_close(outputs(model, b)[b[0]], want, atol=1e-6, rtol=1e-5)


def test_two_four_masks_keep_exactly_two_of_every_four_and_are_flagged(setup):
    from compress.prune import magnitude_mask, sparsify, two_four_mask

    torch.manual_seed(3)
    w = torch.randn(6, 16)
    mask = two_four_mask(w)
    assert (mask.reshape(6, 4, 4).sum(-1) == 2).all()
    kept = w.abs().reshape(6, 4, 4) * mask.reshape(6, 4, 4)  # the kept two are the group's largest
    assert (kept.topk(2, -1).values == w.abs().reshape(6, 4, 4).topk(2, -1).values).all()
    m = magnitude_mask(w, 0.25)
    assert int((~m).sum()) == 24 and w.abs()[~m].max() <= w.abs()[m].min()
    model = fresh(setup)
    report = sparsify(model, "2:4")
    for layer in model.encoder.encoder.layer:
        for lin in (layer.attention.self.query, layer.intermediate.dense, layer.output.dense):
            groups = (lin.weight != 0).reshape(lin.weight.shape[0], -1, 4).sum(-1)
            assert (groups == 2).all()
    assert report["sparsity"] == pytest.approx(0.5) and model.config.sparsity["pattern"] == "2:4"


def test_plans_remove_the_lowest_scores_globally_or_per_layer_and_round_ffn_widths():
    from compress.prune import Scores
    from compress.prune.plan import plan_step, step_fraction

    scores = Scores(
        heads=[torch.tensor([0.1, 0.9, 0.8, 0.7]), torch.tensor([0.05, 0.06, 0.5, 0.6])],
        ffn=[torch.arange(16, dtype=torch.float), torch.arange(16, dtype=torch.float) + 100],
    )
    heads, keep = plan_step(scores, heads=0.5, ffn=0.5, scope="global", ffn_multiple=4)
    assert heads == {0: [0], 1: [0, 1, 2]}  # the four lowest overall; layer 1 keeps its one head
    # 16 of 32 neurons go, lowest first, but every layer keeps at least one multiple of 4
    assert keep[0].tolist() == list(range(12, 16)) and keep[1].tolist() == list(range(4, 16))
    heads, keep = plan_step(scores, heads=0.5, ffn=0.4, scope="per_layer", ffn_multiple=8)
    assert heads == {0: [0, 3], 1: [0, 1]} and [len(k) for k in keep.values()] == [8, 8]  # 10 kept → nearest 8
    assert (1 - step_fraction(0.5, 2)) ** 2 == pytest.approx(0.5)


def test_vocabulary_pruning_keeps_used_tokens_and_leaves_their_outputs_unchanged(setup, tmp_path):
    from compress.prune import VocabularyConfig, prune_vocabulary

    _, tok, _ = setup
    model = fresh(setup)
    texts = ["red cotton shirt", "blue shirt for men"]  # the "training" text
    sequences = [tok(t)["input_ids"] for t in texts]
    used = {i for ids in sequences for i in ids}
    expected = outputs(model, ("category", tok(texts, padding=True, return_tensors="pt")))["category"]
    before = model.num_parameters(encoder_only=True)
    pruned_tok, keep = prune_vocabulary(model, tok, sequences, VocabularyConfig(keep_characters=False))
    assert keep == sorted(used | set(tok.all_special_ids))
    assert len(pruned_tok) == len(keep) == model.config.vocab_size < len(tok)
    assert before - model.num_parameters(encoder_only=True) == (len(tok) - len(keep)) * 32  # rows of width 32
    # the same texts tokenize to the same tokens under new ids, and the model's outputs do not move
    assert [pruned_tok.convert_ids_to_tokens(pruned_tok(t)["input_ids"]) for t in texts] == [
        tok.convert_ids_to_tokens(ids) for ids in sequences
    ]
    assert pruned_tok.pad_token_id == keep.index(tok.pad_token_id) == model.config.pad_token_id
    got = outputs(model, ("category", pruned_tok(texts, padding=True, return_tensors="pt")))["category"]
    torch.testing.assert_close(got, expected)
    # an unseen word becomes [UNK] (no characters kept) and still runs; saved together, both reload
    assert pruned_tok.unk_token_id in pruned_tok("zebra")["input_ids"]
    model.save_pretrained(tmp_path / "v", pruned_tok)
    again = MultiTaskModel.from_pretrained(tmp_path / "v").eval()
    reloaded = AutoTokenizer.from_pretrained(tmp_path / "v")
    got = outputs(again, ("category", reloaded(texts, padding=True, return_tensors="pt")))["category"]
    torch.testing.assert_close(got, expected)


def test_vocabulary_pruning_with_min_count_keeps_frequent_tokens_and_used_characters(setup):
    from compress.prune import VocabularyConfig, prune_vocabulary

    _, tok, _ = setup
    sequences = [tok(t)["input_ids"] for t in ("red shirt", "red cotton shirt", "zebra in a box")]
    counts: dict[int, int] = {}
    for ids in sequences:
        for i in ids:
            counts[i] = counts.get(i, 0) + 1
    vocab = {i: t for t, i in tok.get_vocab().items()}
    chars = {i for i in counts if len(vocab[i]) == 1 or (vocab[i].startswith("##") and len(vocab[i]) == 3)}
    frequent = {i for i, n in counts.items() if n >= 2}
    special = set(tok.all_special_ids)
    _, keep = prune_vocabulary(fresh(setup), tok, sequences, VocabularyConfig(min_count=2))
    assert set(keep) == special | frequent | chars and chars - frequent  # a once-seen character stayed
    _, keep = prune_vocabulary(fresh(setup), tok, sequences, VocabularyConfig(min_count=2, keep_characters=False))
    assert set(keep) == special | frequent
    with pytest.raises(pydantic.ValidationError):
        VocabularyConfig(min_count=0)


TRANSFORMERS_5 = Version(transformers.__version__).major >= 5


@pytest.mark.skipif(TRANSFORMERS_5, reason="transformers 5 ignores head_mask: nothing to compare with")
def test_mtkd_head_mask_is_the_one_transformers_4_applied(setup):
    _, _, batches = setup
    model = fresh(setup)
    mask = torch.tensor([[1.0, 0.0, 0.5, 1.0], [0.0, 1.0, 1.0, 0.25]])
    enc = model_inputs(batches[0][1])
    with torch.no_grad():
        plain = model.encoder(**enc).last_hidden_state
        theirs = model.encoder(**enc, head_mask=mask).last_hidden_state
        with head_mask_applied(model, mask):
            ours = model.encoder(**enc).last_hidden_state
        after = model.encoder(**enc).last_hidden_state
    assert (theirs - plain).abs().max() > 1e-3  # the mask changes the output: the comparison has teeth
    assert (ours - theirs).abs().max() < 1e-5  # mtkd's hooks scale the heads exactly as transformers 4 did
    assert torch.equal(after, plain)  # and are gone once the block ends


def test_a_model_pruned_before_mtkd_kept_its_own_record_still_reloads(setup, tmp_path):
    """Models saved by earlier mtkd carry transformers' ``pruned_heads`` (original ids) instead."""
    _, tok, batches = setup
    model = fresh(setup)
    prune_heads(model, {0: [0, 2]})
    expected = [outputs(model, b)[b[0]] for b in batches]
    model.save_pretrained(tmp_path / "old", tok)
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    del config["heads_per_layer"]
    config["pruned_heads"] = {"0": [0, 2]}
    (tmp_path / "old" / "config.json").write_text(json.dumps(config))
    again = MultiTaskModel.from_pretrained(tmp_path / "old").eval()
    assert again.encoder.encoder.layer[0].attention.self.query.weight.shape == (16, 32)
    for b, want in zip(batches, expected, strict=True):
        torch.testing.assert_close(outputs(again, b)[b[0]], want)
