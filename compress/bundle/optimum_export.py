"""One head of a multi-task artifact as a directory Optimum's ORTModelFor… classes load.

The multi-task graph is cut down to the chosen head (nodes and weights the other heads alone use
are dropped), its output renamed ``logits``; ``config.json`` gains the architecture, the label
maps and the problem type Optimum and transformers' pipelines read.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import onnx
from onnx import helper

from distill.errors import ArtifactError
from distill.io import read_json, write_json
from distill.tasks import task_type

from .build import MODEL_FILES, SIDECARS

SEQUENCE = ("BertForSequenceClassification", "ORTModelForSequenceClassification")
TOKENS = ("BertForTokenClassification", "ORTModelForTokenClassification")
ARCHITECTURES = {  # label kind → (transformers architecture, Optimum class, problem type)
    "class": (*SEQUENCE, "single_label_classification"),
    "classes": (*SEQUENCE, "multi_label_classification"),
    "score": (*SEQUENCE, "regression"),
    "tags": (*TOKENS, None),
}


def single_output(model: onnx.ModelProto, output: str, rename: str = "logits") -> onnx.ModelProto:
    """A copy of ``model`` computing only ``output`` (renamed ``rename``), without dead nodes or weights."""
    graph = model.graph
    if output not in {o.name for o in graph.output}:
        raise ArtifactError(f"the graph has no output {output!r} (outputs: {[o.name for o in graph.output]})")
    needed, keep = {output}, []
    for node in reversed(graph.node):  # exported graphs are topologically sorted
        if any(o in needed for o in node.output):
            keep.append(node)
            needed.update(i for i in node.input if i)
    keep.reverse()
    keep.append(helper.make_node("Identity", [output], [rename], name=f"{rename}_of_{output}"))
    value = next(o for o in graph.output if o.name == output)
    out_info = onnx.ValueInfoProto()
    out_info.CopyFrom(value)
    out_info.name = rename
    new_graph = helper.make_graph(
        keep,
        graph.name,
        [i for i in graph.input if i.name in needed],
        [out_info],
        [t for t in graph.initializer if t.name in needed],
    )
    new_graph.value_info.extend(v for v in graph.value_info if v.name in needed)
    result = helper.make_model(new_graph, opset_imports=model.opset_import, producer_name="mtkd")
    result.ir_version = model.ir_version
    return result


def export_optimum(bundle_or_artifact: Path, task: str, out: Path) -> dict[str, Any]:
    """Write ``out`` (model.onnx, config.json, tokenizer) for ``task``; return what Optimum class loads it."""
    src, out = Path(bundle_or_artifact), Path(out)
    if not (src / "model.onnx").is_file():
        found = [n for n in MODEL_FILES if (src / n).is_file()]
        raise ArtifactError(f"{src}: Optimum loads ONNX graphs only (found {found or 'no model file'})")
    heads = {t["name"]: t for t in read_json(src / "mtkd.json")["tasks"]}
    if task not in heads:
        raise ArtifactError(f"unknown task {task!r}; heads: {', '.join(heads)}")
    head = heads[task]
    kind = task_type(head["type"]).label_kind
    if kind not in ARCHITECTURES:
        raise ArtifactError(f"task {task}: Optimum has no model class for head type {head['type']} ({kind} labels)")
    architecture, optimum_class, problem = ARCHITECTURES[kind]
    out.mkdir(parents=True, exist_ok=True)
    onnx.save(single_output(onnx.load(str(src / "model.onnx")), task), str(out / "model.onnx"))
    config = read_json(src / "config.json")
    labels = head["labels"] or ["score"]  # a regression head has one unnamed output
    config.update(
        architectures=[architecture],
        id2label={str(i): lab for i, lab in enumerate(labels)},
        label2id={lab: i for i, lab in enumerate(labels)},
        num_labels=len(labels),
    )
    if problem:
        config["problem_type"] = problem
    write_json(out / "config.json", config)
    for side in SIDECARS:
        if side.startswith(("tokenizer", "special_tokens", "vocab")) and (src / side).is_file():
            shutil.copy2(src / side, out / side)
    return {"task": task, "class": f"optimum.onnxruntime.{optimum_class}", "architecture": architecture}
