"""The deployable bundle (model, tokenizer, heads, checksums, model card), its Predictor and exports."""

from .build import MANIFEST, Serving, build_bundle
from .predictor import Predictor

__all__ = ["MANIFEST", "Predictor", "Serving", "build_bundle"]
