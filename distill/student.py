"""Build the student: a smaller encoder with the teacher's heads (same tasks, same label sets).

``init: teacher_layers`` copies the embeddings, a uniform subset of encoder layers and the heads
from the teacher (DistilBERT style); it needs the same width, head count and FFN size.
``init: teacher_embeddings`` serves a narrower student: the teacher's embedding tables projected
onto their top principal directions, the layers random.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from .config import StudentModelConfig
from .errors import MtkdError
from .model import HeadSpec, MultiTaskModel


def layer_map(student_layers: int, teacher_layers: int, how: str | list[list[int]]) -> list[tuple[int, int]]:
    """(student layer, teacher layer) pairs, 1-based (0 is the embedding layer).

    ``uniform`` spreads the student over the teacher (TinyBERT's m·N/M), ``last`` pairs the
    student with the teacher's top layers, a list gives explicit pairs.
    """
    if isinstance(how, list):
        pairs = [(int(s), int(t)) for s, t in how]
        bad = [p for p in pairs if not (0 <= p[0] <= student_layers and 0 <= p[1] <= teacher_layers)]
        if bad:
            raise MtkdError(
                f"layer_map pair {list(bad[0])} is out of range (student has {student_layers} layers, "
                f"teacher {teacher_layers}; 0 is the embeddings)"
            )
        return pairs
    if how == "uniform":
        return [(i, round(i * teacher_layers / student_layers)) for i in range(1, student_layers + 1)]
    if how == "last":
        return [(i, teacher_layers - student_layers + i) for i in range(1, student_layers + 1)]
    raise MtkdError(f"unknown layer_map {how!r}; use uniform, last or a list of [student, teacher] pairs")


def encoder_layers(model: MultiTaskModel) -> nn.ModuleList:
    """The encoder's list of transformer blocks (BERT-family and DistilBERT layouts)."""
    enc = model.encoder
    for path in ("encoder.layer", "transformer.layer", "layer"):
        node = enc
        for part in path.split("."):
            node = getattr(node, part, None)
            if node is None:
                break
        if isinstance(node, nn.ModuleList):
            return node
    raise MtkdError(f"cannot find the transformer layers of {type(enc).__name__}; supported: BERT family, DistilBERT")


def _qkv(block: nn.Module) -> dict[str, nn.Module]:
    attn = block.attention
    if hasattr(attn, "self"):  # BERT, RoBERTa, ELECTRA, ...
        return {"q": attn.self.query, "k": attn.self.key, "v": attn.self.value}
    if hasattr(attn, "q_lin"):  # DistilBERT
        return {"q": attn.q_lin, "k": attn.k_lin, "v": attn.v_lin}
    raise MtkdError(f"cannot find query/key/value projections in {type(block).__name__}")


@contextmanager
def capture_qkv(model: MultiTaskModel, layer: int) -> Iterator[dict[str, torch.Tensor]]:
    """Record the query, key and value projections of one layer (1-based, -1 = last) during forward."""
    blocks = encoder_layers(model)
    block = blocks[layer - 1 if layer > 0 else len(blocks) + layer]
    seen: dict[str, torch.Tensor] = {}
    hooks = [
        mod.register_forward_hook(lambda _m, _i, out, key=key: seen.__setitem__(key, out))
        for key, mod in _qkv(block).items()
    ]
    try:
        yield seen
    finally:
        for h in hooks:
            h.remove()


def build_student(
    cfg: StudentModelConfig,
    teacher: MultiTaskModel | None,
    tokenizer: PreTrainedTokenizerBase,
    heads: list[HeadSpec] | None = None,
) -> MultiTaskModel:
    """A student with every teacher head (same label sets), or with ``heads`` (per-task teachers: the tasks'
    own), from its own shape or a pretrained encoder; ``init`` copies from ``teacher``'s layers."""
    if heads is None:
        if teacher is None:
            raise MtkdError("build_student needs the heads when there is no multi-task teacher")
        heads = list(teacher.head_specs.values())
    if cfg.init == "general":
        raise MtkdError(
            "student.model.init: general starts from a general-distilled encoder: train one with "
            "distill.general.cached_general and pass its path as from_pretrained (init: random)"
        )
    student = MultiTaskModel.from_config(cfg, heads, tokenizer)
    if cfg.init != "random" and teacher is None:
        raise MtkdError(
            f"student.model.init: {cfg.init} copies a teacher's layers; per-task teachers lend theirs through "
            "teacher.encoder_from (a task whose checkpoint shares the student's vocabulary)"
        )
    if cfg.init == "teacher_layers":
        init_from_teacher(student, teacher)
    elif cfg.init == "teacher_embeddings":
        init_embeddings_by_pca(student, teacher)
    return student


def pca_projection(weight: torch.Tensor, width: int) -> torch.Tensor:
    """The ``(d, width)`` matrix of the top principal directions of ``weight``'s rows (d = its width)."""
    if width > weight.shape[1]:
        raise MtkdError(f"a student {width} wide cannot take a PCA of the teacher's {weight.shape[1]}-wide embeddings")
    centred = weight.double() - weight.double().mean(0, keepdim=True)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)
    return v[:width].T.to(weight.dtype)


def init_embeddings_by_pca(student: MultiTaskModel, teacher: MultiTaskModel) -> None:
    """Give a narrower student the teacher's embeddings projected onto their top principal directions."""
    project_embeddings(student.encoder.embeddings, teacher.encoder.embeddings, copy_equal=False)


def project_embeddings(student: nn.Module, teacher: nn.Module, copy_equal: bool = True) -> None:
    """Copy the teacher's embedding tables into a student's (BERT-family ``embeddings`` modules), projected
    onto their top principal directions when the student is narrower (at equal width too unless
    ``copy_equal``: then the tables and their LayerNorm are copied as they are).

    A narrow student cannot copy the teacher's 384-wide rows, and a random table must relearn every word
    from a few thousand examples; one projection, fitted on the word embeddings, is applied to the word,
    position and token-type tables alike, so their sum (what LayerNorm sees) keeps its geometry.
    """
    if student.word_embeddings.weight.shape[0] != teacher.word_embeddings.weight.shape[0]:
        raise MtkdError("the student starts from the teacher's embeddings, so it needs the teacher's vocabulary")
    width = student.word_embeddings.weight.shape[1]
    same = copy_equal and width == teacher.word_embeddings.weight.shape[1]
    projection = None if same else pca_projection(teacher.word_embeddings.weight.detach(), width)
    with torch.no_grad():
        for table in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
            source, target = getattr(teacher, table).weight, getattr(student, table).weight
            rows = min(source.shape[0], target.shape[0])
            target[:rows] = source[:rows] if same else source[:rows] @ projection
        if same:  # at equal width the normalisation that follows belongs to the same tables
            student.LayerNorm.load_state_dict(teacher.LayerNorm.state_dict())


def init_from_teacher(student: MultiTaskModel, teacher: MultiTaskModel) -> None:
    """Copy embeddings, a uniform subset of layers and the heads from the teacher (DistilBERT style)."""
    s, t = student.config, teacher.config
    for key in ("hidden_size", "num_attention_heads", "intermediate_size"):
        if getattr(s, key) != getattr(t, key):
            raise MtkdError(
                f"student.model.init: teacher_layers needs the teacher's {key} "
                f"({getattr(t, key)}, student has {getattr(s, key)}); use init: random "
                f"and distil hidden states through a projection instead"
            )
    s_blocks, t_blocks = encoder_layers(student), encoder_layers(teacher)
    with torch.no_grad():
        student.encoder.embeddings.load_state_dict(teacher.encoder.embeddings.state_dict())
        for s_layer, t_layer in layer_map(len(s_blocks), len(t_blocks), "uniform"):
            s_blocks[s_layer - 1].load_state_dict(t_blocks[t_layer - 1].state_dict())
        if set(teacher.heads) == set(student.heads):  # a layers-only teacher (per-task teachers) has none
            student.heads.load_state_dict(teacher.heads.state_dict())
