"""Tasks, data, tokenization, the multi-task model, losses and the one training loop."""

__version__ = "0.1.0"
