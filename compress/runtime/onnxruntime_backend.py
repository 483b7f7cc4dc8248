"""ONNX Runtime: the CPU provider here; CUDA and TensorRT providers where a GPU is present."""

from __future__ import annotations

import importlib
import tempfile
from pathlib import Path
from typing import ClassVar

import numpy as np
import onnx
import torch
from transformers import AutoConfig

from compress.onnx.fusion import UNFUSED
from compress.onnx.optimize import CPU_DISABLED_OPTIMIZERS
from compress.tensorrt.profiles import EVAL_BATCH, ShapeProfile
from distill.errors import ArtifactError
from distill.io import read_json, sha256_file, stable_hash

from .base import RUNTIMES, Backend, Batch, heads_of

PROVIDERS = {"cpu": ["CPUExecutionProvider"], "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"]}
INTEGER_OPS = {"MatMulInteger", "ConvInteger", "QLinearMatMul", "DynamicQuantizeLinear", "QAttention"}
ORT_TRT_CACHE = Path.home() / ".cache" / "mtkd" / "ort-tensorrt"  # engines ORT's TensorRT provider builds


def check_provider(requested: list, running: list[str], artifact: Path) -> str:
    """The provider the session really runs on, when it is the one asked for first; else an error.

    ``get_available_providers()`` lists what the build was compiled with, not what loads: a missing CUDA
    or TensorRT library makes ONNX Runtime log "Falling back" and run on the next provider, and a figure
    measured there must not carry the requested provider's name.
    """
    wanted = requested[0][0] if isinstance(requested[0], tuple) else requested[0]
    if not running or running[0] != wanted:
        raise ArtifactError(
            f"{artifact}: ONNX Runtime was asked for {wanted} but runs {running[0] if running else 'nothing'} "
            "(its libraries did not load; ONNX Runtime's log says why); not measured under the wrong name"
        )
    return wanted


def profiled_placement(profile_json: list[dict]) -> dict[str, list[str]]:
    """Provider → the op types of the nodes that ran on it, from an ONNX Runtime profile (its node events
    carry ``args.provider``)."""
    placed: dict[str, list[str]] = {}
    for event in profile_json:
        args = event.get("args") or {}
        if event.get("cat") == "Node" and "provider" in args and event.get("name", "").endswith("_kernel_time"):
            placed.setdefault(args["provider"], []).append(args.get("op_name", "?"))
    return placed


def placement_label(wanted: str, placed: dict[str, list[str]]) -> str:
    """The provider a row is labelled with: ``wanted``, or what else really ran part of the graph, e.g.
    ``CUDAExecutionProvider + CPUExecutionProvider (24 nodes: DynamicQuantizeLinear, MatMulInteger)``: the
    CUDA provider has no kernels for some quantized operators, which then run on the CPU with copies."""
    others = {p: ops for p, ops in placed.items() if p != wanted}
    if not others:
        return wanted
    parts = [f"{p} ({len(ops)} nodes: {', '.join(sorted(set(ops)))})" for p, ops in sorted(others.items())]
    return " + ".join([wanted, *parts])


def run_placement(session_factory, inputs: list) -> dict[str, list[str]]:
    """Run one small batch through a profiling session and read where each node ran."""
    import json

    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.enable_profiling = True
    opts.profile_file_prefix = str(Path(tempfile.gettempdir()) / "mtkd-ort-placement")  # not in the caller's cwd
    session = session_factory(opts)
    feed = {
        i.name: np.ones((1, 8), dtype=np.int64) if "int64" in i.type else np.ones((1, 8), np.float32) for i in inputs
    }
    session.run(None, feed)
    path = Path(session.end_profiling())
    try:
        return profiled_placement(json.loads(path.read_text()))
    finally:
        path.unlink(missing_ok=True)


def artifact_precision(artifact: Path) -> str | None:
    """The precision an exported artifact was built at (from its ``onnx.json``)."""
    manifest = Path(artifact) / "onnx.json"
    return read_json(manifest).get("precision") if manifest.is_file() else None


class OnnxArtifact(Backend):
    """What every runtime of an exported ``model.onnx`` (with its ``mtkd.json`` and config) knows alike."""

    @classmethod
    def accepts(cls, artifact: Path) -> bool:
        return (Path(artifact) / "model.onnx").is_file()

    @property
    def heads(self):
        if not hasattr(self, "_heads"):
            self._heads = heads_of(self.artifact)
        return self._heads

    @property
    def model_config(self):
        return AutoConfig.from_pretrained(self.artifact)

    def num_parameters(self) -> int:
        graph = onnx.load(str(self.artifact / "model.onnx"), load_external_data=False).graph
        return int(sum(np.prod(t.dims) for t in graph.initializer))

    def size_mb(self) -> float:
        return (self.artifact / "model.onnx").stat().st_size / 1e6


@RUNTIMES.register("onnxruntime")
class OnnxRuntimeBackend(OnnxArtifact):
    """``model.onnx`` through an InferenceSession; threads match torch's for fair comparisons."""

    name = "onnxruntime"
    # fp8: TensorRT's FP8 Q/DQ graph, run by ONNX Runtime's reference Q/DQ kernels (simulated, for accuracy)
    precisions: ClassVar[tuple[str, ...]] = ("fp32", "fp16", "int8", "fp8")

    def __init__(
        self, artifact: Path, precision: str = "fp32", device: str = "cpu", max_batch: int | None = None
    ) -> None:
        super().__init__(artifact, precision, device, max_batch)
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()
        # idle pool threads spin by default and steal the cores from whatever runs next (other
        # sessions, torch) — interleaved measurements of several candidates would be unfair
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if precision == "fp8":  # no fused FP8 kernels on CPU: keep Q/DQ nodes as they are, exactly simulated
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        # on CPU ORT would re-fuse the graph's Add + LayerNorm pairs into its slower SkipLayerNormalization
        disabled = list(CPU_DISABLED_OPTIMIZERS) if self.device == "cpu" else []
        providers = self.providers()
        self.session = ort.InferenceSession(
            str(self.graph_path(self.artifact)), opts, providers=providers, disabled_optimizers=disabled
        )
        self.provider = check_provider(providers, self.session.get_providers(), self.artifact)
        if self.device == "cuda":  # the session's provider list says nothing of nodes left to the CPU
            graph = str(self.graph_path(self.artifact))

            def profiling(o, graph=graph):
                return ort.InferenceSession(graph, o, providers=providers)

            self.provider = placement_label(self.provider, run_placement(profiling, self.session.get_inputs()))
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.outputs = [o.name for o in self.session.get_outputs()]

    def providers(self) -> list:
        return PROVIDERS[self.device]

    @staticmethod
    def graph_path(artifact: Path) -> Path:
        """The graph this runtime loads from the artifact."""
        return Path(artifact) / "model.onnx"

    @classmethod
    def unavailable(cls, artifact: Path, precision: str, device: str) -> str | None:
        if not cls.accepts(artifact):
            return "no model.onnx in the artifact"
        built = artifact_precision(artifact)
        if built and built != precision:
            return f"the artifact is {built}"
        if device == "cuda":
            import onnxruntime as ort

            if not torch.cuda.is_available() or "CUDAExecutionProvider" not in ort.get_available_providers():
                return "no CUDA device or CUDA execution provider"
        return super().unavailable(artifact, precision, device)

    def __call__(self, batch: Batch) -> dict[str, np.ndarray]:
        feed = {k: v for k, v in batch.items() if k in self.inputs}
        return dict(
            zip(self.outputs, (o.astype(np.float32) for o in self.session.run(self.outputs, feed)), strict=True)
        )


def engine_cache_dir(artifact: Path, precision: str, profile: ShapeProfile | None = None) -> Path:
    """Where ORT's TensorRT provider keeps engines for this graph: keyed by the graph's bytes, the precision and
    the shape profile, since the provider's own engine id does not hash weights (a re-run into the same folder
    would reuse an engine built from the old weights)."""
    key = {"graph": sha256_file(Path(artifact) / "model.onnx"), "precision": precision}
    if profile is not None:
        key["profile"] = profile.as_dict()
    return ORT_TRT_CACHE / stable_hash(key)[:16]


def ort_trt_profile(max_position: int, max_batch: int | None) -> ShapeProfile:
    """The provider's one profile: batch up to the caller's largest (at least the accuracy pass's 64), any length
    up to the model's positions, tuned for one 128-token query."""
    return ShapeProfile(
        min=(1, 1), opt=(1, min(128, max_position)), max=(max(EVAL_BATCH, max_batch or 1), max_position)
    )


@RUNTIMES.register("onnxruntime-trt")
class OnnxRuntimeTensorRTBackend(OnnxRuntimeBackend):
    """ONNX Runtime's TensorRT execution provider (CUDA provider for what TensorRT does not take).

    Engines are cached per graph, precision and profile under ``~/.cache/mtkd/ort-tensorrt`` with a
    timing cache, and built for one profile (batch 1 to ``max(64, max_batch)``, any length up to the
    model's positions), so shapes within it never rebuild. Q/DQ graphs turn on INT8 (explicit quantization).
    """

    name = "onnxruntime-trt"

    @staticmethod
    def graph_path(artifact: Path) -> Path:
        """The unfused graph where the artifact has one: TensorRT parses standard ONNX operators only, not
        ONNX Runtime's fused CPU ones (Attention, EmbedLayerNormalization, …)."""
        unfused = Path(artifact) / UNFUSED
        return unfused if unfused.is_file() else Path(artifact) / "model.onnx"

    def providers(self) -> list:
        load_tensorrt_libraries()
        max_position = int(read_json(self.artifact / "config.json").get("max_position_embeddings", 512))
        profile = ort_trt_profile(max_position, self.max_batch)
        cache = engine_cache_dir(self.artifact, self.precision, profile)
        cache.mkdir(parents=True, exist_ok=True)  # the provider creates only the last level itself
        options = {
            "trt_engine_cache_enable": True,
            "trt_engine_cache_path": str(cache),
            "trt_timing_cache_enable": True,
            "trt_timing_cache_path": str(cache),
            "trt_fp16_enable": self.precision in ("fp16", "int8", "fp8"),
            "trt_int8_enable": self.precision == "int8",  # explicit: unavailable() admits Q/DQ INT8 graphs only
            **profile.ort_shapes(sorted(self.inputs_of_graph())),
        }
        return [("TensorrtExecutionProvider", options), "CUDAExecutionProvider", "CPUExecutionProvider"]

    def inputs_of_graph(self) -> list[str]:
        graph = onnx.load(str(self.graph_path(self.artifact)), load_external_data=False).graph
        initializers = {t.name for t in graph.initializer}
        return [i.name for i in graph.input if i.name not in initializers]

    @classmethod
    def unavailable(cls, artifact: Path, precision: str, device: str) -> str | None:
        if device != "cuda":
            return "ONNX Runtime's TensorRT provider runs on CUDA GPUs only"
        import onnxruntime as ort

        if "TensorrtExecutionProvider" not in ort.get_available_providers():
            return "onnxruntime has no TensorrtExecutionProvider (install onnxruntime-gpu and the tensorrt extra)"
        return trt_graph_unfit(cls.graph_path(artifact), precision) or super().unavailable(artifact, precision, device)


def load_tensorrt_libraries() -> bool:
    """Import ``tensorrt`` so its wheel's ``libnvinfer`` is loaded into the process: ONNX Runtime's TensorRT
    provider dlopens it by name and finds the pip-installed copy only once it is loaded (otherwise the session
    quietly falls back to CUDA, which ``check_provider`` then refuses). False when TensorRT is absent."""
    try:
        importlib.import_module("tensorrt")
    except Exception:  # absent, or its CUDA libraries missing: the provider will not load, and says so
        return False
    return True


def trt_graph_unfit(graph_file: Path, precision: str) -> str | None:
    """Why TensorRT cannot take this graph at this precision, or None: ONNX Runtime's fused contrib operators
    do not parse, and INT8 is explicit quantization (Q/DQ nodes), not ONNX Runtime's integer operators."""
    if not graph_file.is_file():
        return f"no {graph_file.name}"
    nodes = onnx.load(str(graph_file), load_external_data=False).graph.node
    fused = sorted({n.op_type for n in nodes if n.domain == "com.microsoft"})
    if fused:
        return f"{graph_file.name} holds ONNX Runtime's own operators ({', '.join(fused)}), which TensorRT cannot parse"
    integer = sorted({n.op_type for n in nodes if n.op_type in INTEGER_OPS})
    if precision == "int8" and (integer or not any(n.op_type == "QuantizeLinear" for n in nodes)):
        found = f" (it uses {', '.join(integer)})" if integer else ""
        return f"INT8 through TensorRT needs a Q/DQ graph (preset qdq-int8-tensorrt){found}"
    return None
