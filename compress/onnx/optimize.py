"""Transformer graph fusions (attention, LayerNorm, GELU, ...) with ONNX Runtime's optimizer."""

from __future__ import annotations

import logging
from pathlib import Path

from transformers import AutoConfig

log = logging.getLogger("mtkd")


def optimize_graph(path: Path, out: Path) -> dict[str, int]:
    """Fuse a BERT-style graph offline; returns how many of each fused operator were applied."""
    from onnxruntime.transformers.optimizer import optimize_model

    config = AutoConfig.from_pretrained(path.parent)
    model = optimize_model(
        str(path), model_type="bert", num_heads=config.num_attention_heads, hidden_size=config.hidden_size, opt_level=0
    )
    model.save_model_to_file(str(out))
    fused = {k: int(v) for k, v in model.get_fused_operator_statistics().items() if v}
    log.info("onnx: fusions applied to %s: %s", out.name, fused or "none")
    return fused
