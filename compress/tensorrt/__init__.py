"""TensorRT: engines compiled from the exported ONNX graphs, with manifests that pin them to a GPU.

Only ``builder`` and the TensorRT runtime import ``tensorrt``; everything else here (config, shape
profiles, manifests, availability) is plain Python, so it is tested on machines without a GPU.
"""

from .availability import tensorrt_unavailable
from .config import ENGINE_PRECISIONS, CompileConfig
from .manifest import ENGINE_FILE, ENGINE_MANIFEST, check_compatible
from .profiles import ShapeProfile, profile_for

__all__ = [
    "ENGINE_FILE",
    "ENGINE_MANIFEST",
    "ENGINE_PRECISIONS",
    "CompileConfig",
    "ShapeProfile",
    "check_compatible",
    "profile_for",
    "tensorrt_unavailable",
]
