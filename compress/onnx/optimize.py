"""Transformer graph fusions (attention, LayerNorm, GELU, ...) with ONNX Runtime's optimizer."""

from __future__ import annotations

import logging
from pathlib import Path

from transformers import AutoConfig

log = logging.getLogger("mtkd")

# ONNX Runtime's CPU SkipLayerNormalization kernel is 2.7-7.2x slower than the Add + LayerNormalization
# it replaces (ORT 1.31; `mtkd bench --fusions` measures it): CPU sessions keep the pair, so ORT
# must not re-fuse it at load. CUDA sessions keep the load-time fusion (a fast kernel there).
CPU_DISABLED_OPTIMIZERS = ("SkipLayerNormFusion",)


def optimize_graph(path: Path, out: Path, skip_layer_norm: bool = False) -> dict[str, int]:
    """Fuse a BERT-style graph offline; returns how many of each fused operator were applied.

    ``skip_layer_norm`` also fuses each residual Add with its LayerNorm (off by default: slower on CPU).
    """
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    config = AutoConfig.from_pretrained(path.parent)
    options = FusionOptions("bert")
    options.enable_skip_layer_norm = skip_layer_norm
    model = optimize_model(
        str(path),
        model_type="bert",
        num_heads=config.num_attention_heads,
        hidden_size=config.hidden_size,
        opt_level=0,
        optimization_options=options,
    )
    model.save_model_to_file(str(out))
    fused = {k: int(v) for k, v in model.get_fused_operator_statistics().items() if v}
    log.info("onnx: fusions applied to %s: %s", out.name, fused or "none")
    return fused
