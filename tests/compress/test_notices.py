"""ONNX Runtime's per-tensor quantizer notices are summed up in one line, other messages pass untouched."""

from __future__ import annotations

import logging

from compress.onnx.notices import summarised_quantizer_notices


def test_per_tensor_notices_become_one_count_and_other_lines_pass(caplog):
    caplog.set_level(logging.INFO)
    root = logging.getLogger()
    with summarised_quantizer_notices("student"):
        for i in range(3):
            root.info('Quantization parameters for tensor:"t%d" not specified', i)  # as ONNX Runtime logs them
        root.info("Fused Attention: 2")
    root.info('Quantization parameters for tensor:"after" not specified')  # outside the block: shown as before
    messages = [r.getMessage() for r in caplog.records]
    assert sum("Quantization parameters for tensor" in m for m in messages) == 1 and "Fused Attention: 2" in messages
    assert any("quantize student" in m and "left 3 tensor outputs" in m for m in messages)
    assert not root.filters  # nothing left attached
