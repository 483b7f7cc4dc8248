"""ONNX Runtime's quantizers log one line per tensor they leave in float ("Quantization parameters for
tensor … not specified"): hundreds of lines a user cannot act on. They are counted and summed up in one."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

NOTICE = "Quantization parameters for tensor"
log = logging.getLogger("mtkd")


class _Counter(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith(NOTICE):
            self.count += 1
            return False
        return True


@contextmanager
def summarised_quantizer_notices(what: str) -> Iterator[None]:
    """Hold back the per-tensor notices while the block runs; log their count once afterwards."""
    counter = _Counter()
    root = logging.getLogger()
    targets = [root, *root.handlers]  # records logged on the root logger pass its handlers' filters
    for target in targets:
        target.addFilter(counter)
    try:
        yield
    finally:
        for target in targets:
            target.removeFilter(counter)
        if counter.count:
            log.info(
                "quantize %s: ONNX Runtime's quantizer left %d tensor outputs without quantization parameters "
                "(they stay float; per-tensor notices not shown)",
                what,
                counter.count,
            )
