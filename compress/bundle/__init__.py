"""The deployable bundle (model, tokenizer, heads, checksums, model card), its Predictor and exports."""

from .build import Serving, build_bundle
from .manifest import MANIFEST, BundleManifest
from .predictor import Predictor

__all__ = ["MANIFEST", "BundleManifest", "Predictor", "Serving", "build_bundle"]
