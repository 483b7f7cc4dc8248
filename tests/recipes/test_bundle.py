"""The deployable bundle: same predictions as the bench's evaluation, refused when damaged, exports that load."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from transformers import AutoTokenizer

from benchmarks.load import run_load
from compress.bundle import Predictor
from compress.bundle.spans import Span, tag_spans
from compress.runtime import OnnxRuntimeBackend
from compress.runtime.accuracy import backend_forward
from distill.data.loading import load_tasks
from distill.encoding import encode_examples
from distill.errors import ArtifactError, MtkdError
from distill.training.evaluate import predict as evaluate_predict
from recipes.cli import main
from recipes.loader import load_recipe

ARTIFACT = "student-dynamic-int8"


@pytest.fixture(scope="module")
def bundle(quantized_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "b"
    assert main(["export", str(quantized_run), "--artifact", ARTIFACT, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def reference(quantized_run):
    """Test-split predictions exactly as the bench stage computes them, through the same ONNX artifact."""
    recipe = load_recipe(str(quantized_run / "recipe.yaml"))
    tasks = load_tasks(recipe.tasks, recipe.seed, recipe.data)
    artifact = quantized_run / "quantize" / ARTIFACT
    backend, tok = OnnxRuntimeBackend(artifact, "int8"), AutoTokenizer.from_pretrained(artifact)
    out = {}
    for name, task in tasks.items():
        enc = encode_examples(tok, task.splits["test"], task.kind, recipe.teacher.train.max_len)
        preds = evaluate_predict(backend_forward(backend), task, "test", enc, 16, tok.pad_token_id)
        out[name] = (task, preds)
    return out


def test_predictor_gives_the_bench_evaluations_predictions(bundle, reference):
    predictor = Predictor.load(bundle)
    task, preds = reference["category"]
    got = predictor.predict([ex.text for ex in task.splits["test"]], tasks=["category"])
    assert [g["category"]["label"] for g in got] == [task.labels[p] for p in preds]
    task, preds = reference["score"]
    got = predictor.predict([(ex.text, ex.text_pair) for ex in task.splits["test"]], tasks=["score"])
    # dynamic INT8 scales activations per batch, so a value moves a little with its batch-mates
    np.testing.assert_allclose([g["score"]["value"] for g in got], preds, atol=5e-3)
    task, preds = reference["attributes"]
    got = predictor.predict([ex.text for ex in task.splits["test"]], tasks=["attributes"])
    ours = [tag for g in got for tag in g["attributes"]["tags"]]
    bench = [task.labels[i] for p in preds for i in p]
    # the same constrained decoding; this tiny tagger is nearly uniform, so where two valid tags tie
    # within dynamic INT8's per-batch activation scaling (batches of 32 here, 16 there) one may flip
    assert len(ours) == len(bench) and np.mean([a == b for a, b in zip(ours, bench, strict=True)]) > 0.99


def test_cli_predict_prints_the_predictors_labels(bundle, reference, capsys):
    task, preds = reference["category"]
    texts = [ex.text for ex in task.splits["test"][:5]]
    assert main(["predict", str(bundle), "--task", "category", *texts]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [x["input"] for x in lines] == texts
    assert [x["category"]["label"] for x in lines] == [task.labels[p] for p in preds[:5]]
    probs = lines[0]["category"]["probabilities"]
    assert set(probs) == set(task.labels) and sum(probs.values()) == pytest.approx(1, abs=1e-4)


def test_predict_answers_every_line_in_order_even_the_bad_ones(bundle, reference, capsys, monkeypatch):
    import io

    task, preds = reference["category"]
    texts = [ex.text for ex in task.splits["test"][:3]]
    lines = [texts[0], "", "red shirt\tcotton red shirt", "   ", texts[1], texts[2]]  # as read from stdin
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
    assert main(["predict", str(bundle), "--task", "category"]) == 3  # some inputs failed, none were lost
    out = capsys.readouterr()
    got = [json.loads(line) for line in out.out.splitlines()]
    assert len(got) == len(lines) and [g["input"] for g in got[:2]] == [texts[0], ""]
    assert got[2]["input"] == ["red shirt", "cotton red shirt"] and "takes text inputs, not pair" in got[2]["error"]
    assert "empty input" in got[1]["error"] and "empty input" in got[3]["error"]
    good = [got[i]["category"]["label"] for i in (0, 4, 5)]
    assert good == [task.labels[p] for p in preds[:3]]  # the good lines answered as if alone, in their places
    assert "3 of 6 inputs not predicted" in out.err


def test_raw_text_tag_entities_carry_character_offsets_into_the_input(bundle):
    predictor = Predictor.load(bundle)
    text = "  Acme   red cotton shirt  size M "
    result = predictor.predict([text], tasks=["attributes"])[0]["attributes"]
    assert len(result["tags"]) == len(text.split())
    for entity in result["entities"]:
        assert text[entity["start"] : entity["end"]] == entity["text"] and entity["text"].strip() == entity["text"]


@pytest.mark.parametrize("target", ["model.onnx", "tokenizer.json", "mtkd.json"])
def test_a_flipped_byte_or_truncation_is_refused_naming_the_file(bundle, tmp_path, target, capsys):
    import shutil

    damaged = tmp_path / "damaged"
    shutil.copytree(bundle, damaged)
    path = damaged / target
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(data)
    with pytest.raises(ArtifactError, match=target.replace(".", r"\.")):
        Predictor.load(damaged)
    path.write_bytes(bytes(data[: len(data) // 3]))  # truncated
    assert main(["predict", str(damaged), "some text"]) == 2
    assert target in capsys.readouterr().err


def test_inputs_of_the_wrong_shape_are_refused_with_the_reason(bundle):
    predictor = Predictor.load(bundle)
    with pytest.raises(MtkdError, match="takes pair inputs"):
        predictor.predict(["a title"], tasks=["score"])
    with pytest.raises(MtkdError, match="mixed input shapes"):
        predictor.predict(["a title", ("q", "t")])
    with pytest.raises(MtkdError, match="unknown task"):
        predictor.predict(["a title"], tasks=["nope"])
    assert predictor.predict([]) == []


def test_many_threads_through_one_predictor_get_the_serial_answers(bundle):
    predictor = Predictor.load(bundle, batch_size=4)
    texts = [f"red cotton shirt size {i}" for i in range(12)]
    serial = {t: predictor.predict([t]) for t in texts}
    seen, lock = [], threading.Lock()

    def call(t):
        got = predictor.predict([t])
        with lock:
            seen.append(got == serial[t])

    report = run_load(call, texts, threads=6, per_thread=10, progress=False)
    assert report["errors"] == 0 and report["requests"] == 60 and all(seen) and len(seen) == 60


def test_optimum_directory_loads_in_optimum_and_matches_our_outputs(quantized_run, bundle, tmp_path):
    pytest.importorskip("optimum.onnxruntime", reason="Optimum is an extra: pip install 'mtkd[optimum]'")
    from optimum.onnxruntime import ORTModelForSequenceClassification, ORTModelForTokenClassification

    backend = OnnxRuntimeBackend(bundle, "int8")
    tok = AutoTokenizer.from_pretrained(bundle)
    batch = {
        k: v.astype(np.int64)
        for k, v in tok(["red cotton shirt", "acme oak desk"], padding=True, return_tensors="np").items()
    }
    ours = backend(batch)
    for task, cls in (("category", ORTModelForSequenceClassification), ("attributes", ORTModelForTokenClassification)):
        out = tmp_path / task
        assert main(["export", str(quantized_run), "--artifact", ARTIFACT, "--format", "optimum", "--task", task,
                     "--out", str(out)]) == 0  # fmt: skip
        model = cls.from_pretrained(out)
        np.testing.assert_allclose(model(**batch).logits, ours[task], atol=1e-5)
        assert model.config.id2label[0] == backend.heads[[h.name for h in backend.heads].index(task)].labels[0]


def test_triton_config_matches_the_models_inputs_and_outputs(quantized_run, bundle, tmp_path):
    import onnxruntime as ort
    from google.protobuf import text_format

    assert (
        main(["export", str(quantized_run), "--artifact", ARTIFACT, "--format", "triton", "--out", str(tmp_path)]) == 0
    )
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    config = text_format.Parse((folder / "config.pbtxt").read_text(), triton_model_config())
    session = ort.InferenceSession(str(folder / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    dtype = {"tensor(int64)": "TYPE_INT64", "tensor(float)": "TYPE_FP32"}

    def described(values):  # what the graph says, in Triton's terms (batch axis left to max_batch_size)
        return [(v.name, dtype[v.type], [d if isinstance(d, int) else -1 for d in v.shape[1:]]) for v in values]

    enum = config.DESCRIPTOR.fields_by_name["input"].message_type.fields_by_name["data_type"].enum_type
    ours = [(t.name, enum.values_by_number[t.data_type].name, list(t.dims)) for t in config.input]
    assert ours == described(session.get_inputs())
    ours = [(t.name, enum.values_by_number[t.data_type].name, list(t.dims)) for t in config.output]
    assert ours == described(session.get_outputs())
    assert config.name == folder.name and config.platform == "onnxruntime_onnx" and config.max_batch_size > 0
    assert list(config.dynamic_batching.preferred_batch_size) and config.instance_group[0].count == 1


def triton_model_config():
    """The fields of Triton's ``ModelConfig`` (model_config.proto) the export writes, as a protobuf message:
    parsing with it rejects any misspelt field, wrong type or bad enum value."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    f = descriptor_pb2.FileDescriptorProto(name="mtkd_test_model_config.proto", package="inference", syntax="proto3")
    f.enum_type.add(name="DataType").value.extend(
        descriptor_pb2.EnumValueDescriptorProto(name=n, number=i)
        for i, n in enumerate(["TYPE_INVALID", "TYPE_BOOL", "TYPE_UINT8", "TYPE_UINT16", "TYPE_UINT32", "TYPE_UINT64",
                               "TYPE_INT8", "TYPE_INT16", "TYPE_INT32", "TYPE_INT64", "TYPE_FP16", "TYPE_FP32"])
    )  # fmt: skip

    def message(name, fields):
        m = f.message_type.add(name=name)
        for number, (fname, ftype, label, type_name) in enumerate(fields, start=1):
            m.field.add(
                name=fname, number=number, type=ftype, label=label, **({"type_name": type_name} if type_name else {})
            )

    one, many = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    tensor = [("name", F.TYPE_STRING, one, None), ("data_type", F.TYPE_ENUM, one, ".inference.DataType"),
              ("dims", F.TYPE_INT64, many, None)]  # fmt: skip
    message("ModelInput", tensor)
    message("ModelOutput", tensor)
    f.enum_type.add(name="Kind").value.extend(
        descriptor_pb2.EnumValueDescriptorProto(name=n, number=i)
        for i, n in enumerate(["KIND_AUTO", "KIND_GPU", "KIND_CPU", "KIND_MODEL"])
    )
    message("ModelInstanceGroup", [("count", F.TYPE_INT32, one, None), ("kind", F.TYPE_ENUM, one, ".inference.Kind")])
    message("ModelDynamicBatching", [("preferred_batch_size", F.TYPE_INT32, many, None),
                                     ("max_queue_delay_microseconds", F.TYPE_UINT64, one, None)])  # fmt: skip
    message("ModelConfig", [
        ("name", F.TYPE_STRING, one, None), ("platform", F.TYPE_STRING, one, None),
        ("max_batch_size", F.TYPE_INT32, one, None), ("input", F.TYPE_MESSAGE, many, ".inference.ModelInput"),
        ("output", F.TYPE_MESSAGE, many, ".inference.ModelOutput"),
        ("instance_group", F.TYPE_MESSAGE, many, ".inference.ModelInstanceGroup"),
        ("dynamic_batching", F.TYPE_MESSAGE, one, ".inference.ModelDynamicBatching"),
    ])  # fmt: skip
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("inference.ModelConfig"))()


def test_tag_spans_read_bio_and_bioes():
    assert tag_spans(["B-BRAND", "I-BRAND", "O", "B-SIZE"]) == [Span("BRAND", 0, 2), Span("SIZE", 3, 4)]
    assert tag_spans(["S-HP", "B-HC", "I-HC", "E-HC", "O"]) == [Span("HP", 0, 1), Span("HC", 1, 4)]
    assert tag_spans(["I-A", "I-B", "E-B", "B-A"]) == [Span("A", 0, 1), Span("B", 1, 3), Span("A", 3, 4)]
    assert tag_spans(["O", "O"]) == []


def test_raw_text_is_split_into_words_as_the_tagger_was_trained():
    from compress.bundle.predictor import split_words

    assert split_words(" Acme  red\tshirt", "whitespace") == (["Acme", "red", "shirt"], [(1, 5), (7, 10), (11, 16)])
    assert split_words("欧达 可x", "chars") == (["欧", "达", "可", "x"], [(0, 1), (1, 2), (3, 4), (4, 5)])


def test_export_picks_the_fastest_int8_within_tolerance_and_never_overwrites(quantized_run, bundle, capsys):
    from compress.bundle.selection import choose_artifact

    report = json.loads((quantized_run / "quantize" / "report.json").read_text())
    rows = [json.loads(x) for x in (quantized_run / "bench" / "results.jsonl").read_text().splitlines()]
    p50 = {r["artifact"]: r["latency_ms"]["p50"] for r in rows if r["runtime"] == "onnxruntime"}
    eligible = [  # the teacher's own exports are for comparison, not the deliverable
        n
        for n, r in report.items()
        if r.get("within_tolerance") and r["precision"] == "int8" and "teacher_alternative" not in r
    ]
    picked = choose_artifact(quantized_run, None).name
    assert picked in eligible and p50[picked] == min(p50[n] for n in eligible)
    assert main(["export", str(quantized_run), "--out", str(bundle)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["export", str(quantized_run), "--artifact", "nope", "--out", str(bundle.parent / "x")]) == 2
    assert "student-fp32" in capsys.readouterr().err  # the error lists what exists


def test_the_default_artifact_is_never_a_peer_tools(quantized_run, tmp_path):
    import shutil

    from compress.bundle.selection import choose_artifact

    run = tmp_path / "run"
    for part in ("quantize", "bench"):
        shutil.copytree(quantized_run / part, run / part)
    fastest = choose_artifact(run, None).name
    report = json.loads((run / "quantize" / "report.json").read_text())
    report[fastest]["peer"] = True  # as if another tool had made the fastest artifact
    (run / "quantize" / "report.json").write_text(json.dumps(report))
    picked = choose_artifact(run, None).name
    assert picked != fastest and not report[picked].get("peer")
    assert choose_artifact(run, fastest).name == fastest  # still exportable by name


def test_metrics_recomputed_through_the_bundle_match_the_quantize_stage(quantized_run, bundle):
    from compress.bundle.scoring import score_bundle

    recipe = load_recipe(str(quantized_run / "recipe.yaml"))
    served = score_bundle(bundle, load_tasks(recipe.tasks, recipe.seed, recipe.data))
    staged = json.loads((quantized_run / "quantize" / ARTIFACT / "metrics.json").read_text())
    assert set(served) == set(staged)
    for task in ("category", "attributes"):  # labels: identical; the regression value moves with batch-mates
        assert served[task]["value"] == pytest.approx(staged[task]["value"], abs=1e-9), task
    assert served["score"]["value"] == pytest.approx(staged["score"]["value"], abs=5e-3)


def test_a_tensorrt_plan_exports_to_triton_on_the_gpu_within_its_profile(quantized_run, tmp_path):
    """No TensorRT here: an engine directory as the compile stage writes it, with a stand-in plan file."""
    import shutil

    from google.protobuf import text_format

    from compress.bundle.triton import export_triton, onnx_io
    from distill.io import write_json

    fp32 = quantized_run / "quantize" / "student-fp32"
    engine = tmp_path / "student-trt-fp16"
    shutil.copytree(fp32, engine, ignore=shutil.ignore_patterns("*.onnx", "onnx.json"))
    (engine / "model.plan").write_bytes(b"stand-in for a serialized engine")
    io = onnx_io(fp32 / "model.unfused.onnx")
    profile = {"min": [1, 1], "opt": [1, 16], "max": [16, 32]}
    write_json(engine / "engine.json", {"precision": "fp16", "io": io, "profile": profile, "target": {}})
    folder = export_triton(engine, tmp_path / "repo", "tiny-trt", max_batch_size=32)
    config = text_format.Parse((folder / "config.pbtxt").read_text(), triton_model_config())
    assert config.platform == "tensorrt_plan" and (folder / "1" / "model.plan").read_bytes().startswith(b"stand-in")
    assert config.max_batch_size == 16  # clamped to the engine's profile: Triton must not batch past it
    assert config.instance_group[0].kind == 1  # KIND_GPU
    assert [i.name for i in config.input] == [t["name"] for t in io["input"]]
    assert [o.name for o in config.output] == [t["name"] for t in io["output"]]
    (engine / "engine.json").unlink()
    with pytest.raises(ArtifactError, match=r"engine\.json I/O record"):
        export_triton(engine, tmp_path / "repo2", "tiny-trt")


def test_hostile_inputs_are_answered_one_by_one_without_losing_the_good_ones(bundle):
    predictor = Predictor.load(bundle)
    alone = predictor.predict(["red cotton shirt"], tasks=["category"])[0]
    hostile = [
        "",
        "  \t ",
        "red cotton shirt",
        "red shirt " * 100_000,  # 1 MB: truncated to the bundle's max_len
        "red\x00shirt\x07\x1b[31m",  # control characters
        "red \ud800 shirt",  # a lone surrogate: the tokenizer refuses it, the Predictor cleans it
        "红色 shirt كبير 👕",  # mixed scripts and an emoji
        5,
        None,
        {"text": "red shirt"},
    ]
    got = predictor.predict(hostile, tasks=["category", "attributes"])
    assert len(got) == len(hostile)
    errors = {i: r["error"] for i, r in enumerate(got) if "error" in r}
    assert set(errors) == {0, 1, 7, 8, 9}
    assert "empty input" in errors[0] and "empty input" in errors[1] and "cannot predict on 5" in errors[7]
    # batch-mates do not change an answer (dynamic INT8 scales activations per batch: scores move a little)
    assert got[2]["category"]["label"] == alone["category"]["label"]
    assert got[2]["category"]["score"] == pytest.approx(alone["category"]["score"], abs=1e-3)
    for i in (3, 4, 5, 6):
        assert got[i]["category"]["label"] in predictor.tasks["category"]["labels"], i
    assert got[3]["attributes"]["truncated"] is True
    pairs = predictor.predict([("red shirt", ""), ("shirt", "red cotton shirt")], tasks=["score"])
    assert "empty text" in pairs[0]["error"] and "value" in pairs[1]["score"]


def test_predict_reads_stdin_bytes_that_are_not_utf8_without_stopping(bundle, capsys, monkeypatch):
    import io

    raw = b"red shirt\n" + b"\xff\xfe broken bytes\n" + b"blue pan\n"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8"))
    assert main(["predict", str(bundle), "--task", "category"]) == 0
    got = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(got) == 3 and got[1]["input"] == "\ufffd\ufffd broken bytes" and "label" in got[1]["category"]
