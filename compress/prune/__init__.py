"""Structured pruning: importance scores (a registry) and surgery that shrinks dense matrices."""

from .importance import IMPORTANCES, Importance, Scores
from .sparsity import magnitude_mask, sparsify, two_four_mask
from .surgery import drop_layers, prunable_parameters, prune_ffn, prune_heads
from .vocabulary import VocabularyConfig, prune_embeddings, prune_vocabulary

__all__ = [
    "IMPORTANCES",
    "Importance",
    "Scores",
    "VocabularyConfig",
    "drop_layers",
    "magnitude_mask",
    "prunable_parameters",
    "prune_embeddings",
    "prune_ffn",
    "prune_heads",
    "prune_vocabulary",
    "sparsify",
    "two_four_mask",
]
