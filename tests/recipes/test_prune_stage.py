"""The prune stage in the pipeline: smaller dense layers, recovered by distillation, then quantized."""

from __future__ import annotations

import json

import pytest

from distill.model import MultiTaskModel
from recipes.cli import main
from tests.conftest import TINY_TRAIN, tiny_recipe, write_recipe

STUDENT = {
    "model": {"layers": 2, "hidden": 16, "heads": 4, "intermediate": 32, "max_position": 64},
    "distill": {"logits": {}},
    "train": {**TINY_TRAIN, "epochs": 1},
}
PRUNE = {
    "importance": "taylor",
    "heads": 0.5,
    "ffn": 0.5,
    "steps": 2,
    "score_batches": 2,
    "recover_epochs": 1,
    "sparsity": "2:4",
    "vocabulary": {"min_count": 2},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("prune")
    recipe = tiny_recipe(student=STUDENT, prune=PRUNE, quantize={"presets": ["dynamic-int8"]})
    path = write_recipe(root / "tiny.yaml", recipe)
    assert main(["run", str(path), "--out", str(root / "runs" / "tiny")]) == 0
    return root / "runs" / "tiny"


def test_prune_halves_heads_and_ffn_in_two_steps_and_the_model_reloads(run):
    report = json.loads((run / "prune" / "report.json").read_text())
    assert sum(layer["heads"] for layer in report["layers"]) == 4  # of 8: rounded geometric steps reach the target
    ffn = [layer["ffn"] for layer in report["layers"]]
    assert all(n % 8 == 0 for n in ffn) and 32 <= sum(ffn) <= 40  # half of 64, rounded up per layer to 8s
    before, after = report["encoder_params"]
    model = MultiTaskModel.from_pretrained(run / "prune" / "model")
    assert model.num_parameters(encoder_only=True) == after < before
    assert [len(x.attention.self.query.weight) // 4 for x in model.encoder.encoder.layer] == [
        layer["heads"] for layer in report["layers"]
    ]
    width, head_dim = 16, 4  # attention: Q, K, V (width → heads·head_dim) and output back; FFN: two projections

    def layer_params(heads: int, ffn: int) -> int:
        inner = heads * head_dim
        return 3 * (width * inner + inner) + (inner * width + width) + (width * ffn + ffn) + (ffn * width + width)

    assert report["prunable_params"] == [
        2 * layer_params(4, 32),
        sum(layer_params(x["heads"], x["ffn"]) for x in report["layers"]),
    ]
    assert "% removed)" in (run / "prune" / "report.md").read_text()
    assert set(report["tasks"]) == {"category", "score", "attributes"}
    for r in report["tasks"].values():  # an error metric keeps a share of the gain over the mean (NaN without one)
        if r["higher_is_better"]:
            assert r["retention"] == pytest.approx(r["after"] / r["before"])
        else:
            gain = r["baseline"] - r["before"]
            expected = (r["baseline"] - r["after"]) / gain if gain > 0 else float("nan")
            assert r["retention"] == pytest.approx(expected, nan_ok=True)
    assert report["latency"]["speedup"] > 0
    assert report["masks"] == {"pattern": "2:4", "sparsity": 0.5, "cpu_speedup": False}
    assert "no CPU speedup" in (run / "prune" / "report.md").read_text()
    ffn_out = model.encoder.encoder.layer[0].output.dense.weight  # the masks survive saving and reloading
    assert ((ffn_out != 0).reshape(ffn_out.shape[0], -1, 4).sum(-1) == 2).all()


def test_quantize_takes_the_pruned_model_by_default(run):
    report = json.loads((run / "quantize" / "report.json").read_text())
    assert list(report) == ["pruned-fp32", "pruned-dynamic-int8"]
    pruned = json.loads((run / "prune" / "metrics.json").read_text())
    exported = json.loads((run / "quantize" / "pruned-fp32" / "metrics.json").read_text())
    for task, m in exported.items():  # the ONNX export of the pruned model scores like it in PyTorch
        assert m["value"] == pytest.approx(pruned[task]["value"], abs=0.01), task


def test_vocabulary_pruning_shrinks_the_table_and_the_tokenizer_travels_with_the_model(run):
    from transformers import AutoTokenizer

    report = json.loads((run / "prune" / "report.json").read_text())
    vocab = report["vocabulary"]
    assert vocab["tokens_after"] < vocab["tokens_before"]
    model = MultiTaskModel.from_pretrained(run / "prune" / "model")
    tokenizer = AutoTokenizer.from_pretrained(run / "prune" / "model")
    assert model.config.vocab_size == len(tokenizer) == vocab["tokens_after"]
    assert (
        f"Vocabulary: {vocab['tokens_before']} → {vocab['tokens_after']} tokens"
        in (run / "prune" / "report.md").read_text()
    )
    onnx_dir = run / "quantize" / "pruned-fp32"  # exported with its own tokenizer, scored through ONNX Runtime
    assert len(AutoTokenizer.from_pretrained(onnx_dir)) == vocab["tokens_after"]
    metrics = json.loads((onnx_dir / "metrics.json").read_text())
    after = report["tasks"]
    for task, m in metrics.items():
        assert m["value"] == pytest.approx(after[task]["after"], rel=1e-3, abs=1e-3), task
