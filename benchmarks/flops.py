"""Analytic FLOPs per sample for transformer encoders (one multiply-add = 2 FLOPs).

Per layer with sequence length L, hidden H, FFN size I: Q, K, V and output projections 8·L·H²,
attention scores and the weighted sum 4·L²·H, FFN 4·L·H·I. Embedding lookups, LayerNorm,
softmax and activations are not counted (they are memory-bound, not FLOP-bound).
"""

from __future__ import annotations

from transformers import PretrainedConfig

from distill.model import HeadSpec


def layer_flops(seq_len: int, hidden: int, intermediate: int, attention_width: int | None = None) -> int:
    """FLOPs of one encoder layer; ``attention_width`` is heads × head size (less than hidden after pruning)."""
    a = hidden if attention_width is None else attention_width
    projections = 2 * seq_len * hidden * a * 4  # Q, K, V (hidden → a) and output (a → hidden)
    attention = 2 * seq_len * seq_len * a * 2  # scores and weighted sum over values
    ffn = 2 * seq_len * hidden * intermediate * 2
    return projections + attention + ffn


def head_flops(head: HeadSpec, seq_len: int, hidden: int) -> int:
    """A sequence head pools [CLS] through a dense layer; a token head projects every position."""
    outputs = max(1, len(head.labels))
    if head.type == "token_classification":
        return 2 * seq_len * hidden * outputs
    return 2 * hidden * hidden + 2 * hidden * outputs


def encoder_flops(config: PretrainedConfig, seq_len: int, heads: list[HeadSpec] | tuple[HeadSpec, ...] = ()) -> int:
    """FLOPs per sample of a BERT-style encoder (with per-layer sizes when pruned) plus its heads."""
    hidden = config.hidden_size
    sizes = getattr(config, "mtkd_layer_sizes", None)  # per layer {"heads", "intermediate"} after pruning
    head_dim = hidden // config.num_attention_heads
    total = 0
    for i in range(config.num_hidden_layers):
        if sizes:
            total += layer_flops(seq_len, hidden, sizes[i]["intermediate"], sizes[i]["heads"] * head_dim)
        else:
            total += layer_flops(seq_len, hidden, config.intermediate_size)
    return total + sum(head_flops(h, seq_len, hidden) for h in heads)
