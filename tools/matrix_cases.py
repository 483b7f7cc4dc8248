"""The reliability matrix's cases: malformed recipes and malformed data, each with what must happen.

A recipe case mutates a small valid recipe and names the key path the one-line error must
mention. A data case writes files and a task, says whether the problem is structural (a named
error under either ``data.on_error`` policy) or a bad row (named under ``raise``, counted and
reported under ``skip``), and the text the message must contain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MODEL = {
    "layers": 2,
    "hidden": 32,
    "heads": 2,
    "intermediate": 64,
    "dropout": 0.0,
    "attention_dropout": 0.0,
    "max_position": 64,
}
TRAIN = {"epochs": 3, "batch_size": 16, "lr": 3e-3, "max_len": 32, "checkpoint_every": 8, "warmup": 0.0}


def base_recipe() -> dict[str, Any]:
    """A valid recipe that trains a tiny teacher and student on small built-in tables in seconds."""
    return {
        "name": "matrix",
        "seed": 0,
        "tasks": {
            "category": {
                "type": "classification",
                "text": "title",
                "label": "category",
                "source": {"format": "builtin", "table": "products", "size": 240},
            },
            "attributes": {
                "type": "token_classification",
                "source": {"format": "builtin", "table": "products", "size": 240},
            },
        },
        "tokenizer": {"train": "wordpiece", "vocab_size": 400},
        "teacher": {"model": dict(MODEL), "train": dict(TRAIN)},
        "student": {
            "model": {"layers": 1, "hidden": 16, "heads": 2, "intermediate": 32, "max_position": 64},
            "distill": {"logits": {}, "hidden": {}, "relation": {"heads": 2}},
            "train": dict(TRAIN),
        },
    }


def _set(path: str, value: Any) -> Callable[[dict], None]:
    def mutate(recipe: dict) -> None:
        node = recipe
        *parents, last = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value

    return mutate


def _drop(path: str) -> Callable[[dict], None]:
    def mutate(recipe: dict) -> None:
        *parents, last = path.split(".")
        node = recipe
        for part in parents:
            node = node[part]
        del node[last]

    return mutate


def _both(*mutations: Callable[[dict], None]) -> Callable[[dict], None]:
    def mutate(recipe: dict) -> None:
        for m in mutations:
            m(recipe)

    return mutate


@dataclass(frozen=True)
class RecipeCase:
    name: str
    mutate: Callable[[dict], None]
    expect: str  # text the one-line error must contain (the key path, or the file)
    raw_yaml: str | None = None  # for cases YAML itself must catch (duplicate keys)


RECIPE_CASES: list[RecipeCase] = [
    RecipeCase("unknown top-level key", _set("studnet", {}), "studnet: unknown key"),
    RecipeCase("unknown key in teacher", _set("teacher.optimizer", "sgd"), "teacher.optimizer: unknown key"),
    RecipeCase("unknown key in teacher.train", _set("teacher.train.epochz", 3), "teacher.train.epochz: unknown key"),
    RecipeCase("unknown key in a task", _set("tasks.category.lable", "x"), "tasks.category.lable: unknown key"),
    RecipeCase(
        "unknown key in a source", _set("tasks.category.source.tabel", "x"), "tasks.category.source.tabel: unknown key"
    ),
    RecipeCase(
        "unknown key in student.distill", _set("student.distill.logit", {}), "student.distill.logit: unknown key"
    ),
    RecipeCase("epochs not a number", _set("teacher.train.epochs", "nope"), "teacher.train.epochs"),
    RecipeCase("batch size a list", _set("teacher.train.batch_size", [8]), "teacher.train.batch_size"),
    RecipeCase("learning rate ≤ 0", _set("teacher.train.lr", 0), "teacher.train.lr"),
    RecipeCase("temperature ≤ 0", _set("student.distill.logits.temperature", 0), "student.distill.logits.temperature"),
    RecipeCase("alpha > 1", _set("student.distill.logits.alpha", 1.5), "student.distill.logits.alpha"),
    RecipeCase("dev fraction ≥ 0.5", _set("tasks.category.split.dev", 0.9), "tasks.category.split.dev"),
    RecipeCase("label noise ≥ 1", _set("tasks.category.source.noise.label", 1.0), "tasks.category.source.noise.label"),
    RecipeCase(
        "missing data file",
        _set("tasks.category.source", {"format": "csv", "train": "no/such.csv"}),
        "tasks.category.source.train: file not found",
    ),
    RecipeCase(
        "csv source without train", _set("tasks.category.source", {"format": "csv"}), "needs a 'train' file path"
    ),
    RecipeCase("unknown task type", _set("tasks.category.type", "ranking"), "tasks.category.type: unknown task type"),
    RecipeCase("pair task without text_pair", _set("tasks.category.type", "pair_classification"), "needs 'text_pair'"),
    RecipeCase(
        "task name with a dash",
        _set("tasks.my-task", {"type": "classification", "source": "builtin"}),
        "task name 'my-task'",
    ),
    RecipeCase("no tasks", _set("tasks", {}), "tasks: Dictionary should have at least 1 item"),
    RecipeCase(
        "duplicate task names",
        lambda r: None,
        "duplicate key 'category'",
        raw_yaml="name: dup\ntasks:\n  category: {type: classification, source: builtin}\n"
        "  category: {type: regression, source: builtin}\n",
    ),
    RecipeCase("heads do not divide hidden", _set("teacher.model.heads", 3), "must be a multiple of heads"),
    RecipeCase(
        "tokenizer trained and loaded",
        _set("tokenizer.from_pretrained", "some/tokenizer"),
        "tokenizer: set exactly one of",
    ),
    RecipeCase(
        "weight for an unknown task", _set("teacher.train.task_weights", {"nope": 1.0}), "names unknown task 'nope'"
    ),
    RecipeCase(
        "negative task weight", _set("teacher.train.task_weights", {"category": -1.0}), "task weights must be ≥ 0"
    ),
    RecipeCase(
        "student larger than teacher",
        _set("student.model", {"layers": 4, "hidden": 64, "heads": 2}),
        "is larger than the teacher",
    ),
    RecipeCase(
        "attention KD across head counts",
        _both(_set("student.model.heads", 4), _set("student.distill.attention", {})),
        "student.distill.attention needs equal head counts",
    ),
    RecipeCase(
        "relation heads do not divide widths",
        _set("student.distill.relation.heads", 3),
        "relation.heads (3) must divide both hidden sizes",
    ),
    RecipeCase(
        "teacher_layers init with another width",
        _set("student.model.init", "teacher_layers"),
        "init: teacher_layers needs the teacher's",
    ),
    RecipeCase("bad data.on_error", _set("data.on_error", "ignore"), "data.on_error"),
    RecipeCase("bench batch size 0", _set("bench", {"batch_sizes": [0]}), "batch sizes must be ≥ 1"),
    RecipeCase("unknown bench runtime", _set("bench", {"runtimes": ["tensorflow"]}), "unknown runtime 'tensorflow'"),
    RecipeCase("missing recipe name", _drop("name"), "name: required key is missing"),
]


@dataclass(frozen=True)
class DataCase:
    name: str
    files: dict[str, bytes]
    task: dict[str, Any]  # the task config; "{dir}" in paths is replaced by the case's folder
    kind: str  # "error": structural, named under both policies; "row": named under raise, counted under skip
    expect: str
    extra: dict[str, Any] = field(default_factory=dict)


def _csv(*lines: str, encoding: str = "utf-8") -> bytes:
    return ("\n".join(lines) + "\n").encode(encoding)


GOOD = [f"item {i} blue boots,{'a' if i % 2 else 'b'}" for i in range(30)]
SCORES = [f"query {i},title {i},{i % 3}.5" for i in range(30)]
CONLL = "".join(f"Nexa\tB-BRAND\nphone\tO\nred{i}\tB-COLOR\n\n" for i in range(30))


def _csv_task(**kw: Any) -> dict[str, Any]:
    src = {"format": "csv", "train": "{dir}/train.csv", **kw.pop("source", {})}
    return {"type": "classification", "text": "text", "label": "label", "source": src, **kw}


JSONL_TEXTS = '{"text": "a b", "label": "x"}\n{"text": "c", "label": "y"}\n' * 15


def _jsonl_row_case(name: str, task_type: str, good: str, bad_line: str, expect: str) -> DataCase:
    """A JSONL file of good lines and one bad line at the end."""
    task = {"type": task_type, "source": {"format": "jsonl", "train": "{dir}/train.jsonl"}}
    return DataCase(name, {"train.jsonl": (good + bad_line + "\n").encode()}, task, "row", expect)


def _unseen_label_case(split: str, known_row: str, unseen: str) -> DataCase:
    """A dev or test file with a label the training file never has."""
    files = {"train.csv": _csv("text,label", *GOOD), f"{split}.csv": _csv("text,label", known_row, f"y,{unseen}")}
    task = _csv_task(source={split: f"{{dir}}/{split}.csv"})
    return DataCase(f"{split} label unseen in train", files, task, "row", f"label {unseen!r} never seen in train")


def _score_row_case(name: str, bad_row: str, expect: str) -> DataCase:
    """A query–title regression file with one bad row appended to good ones."""
    task = _csv_task(type="regression", text="q", text_pair="t", label="s")
    return DataCase(name, {"train.csv": _csv("q,t,s", *SCORES, bad_row)}, task, "row", expect)


def _conll_case(name: str, content: bytes, kind: str, expect: str) -> DataCase:
    """A tag task reading one CoNLL training file."""
    task = {"type": "token_classification", "source": {"format": "conll", "train": "{dir}/train.conll"}}
    return DataCase(name, {"train.conll": content}, task, kind, expect)


DATA_CASES: list[DataCase] = [
    DataCase(
        "wrong encoding",
        {"train.csv": _csv("text,label", "café au lait,a", *GOOD, encoding="latin-1")},
        _csv_task(),
        "error",
        "not valid utf-8",
    ),
    DataCase("missing text column", {"train.csv": _csv("body,label", *GOOD)}, _csv_task(), "error", "no column 'text'"),
    DataCase(
        "missing label column", {"train.csv": _csv("text,stars", *GOOD)}, _csv_task(), "error", "no column 'label'"
    ),
    DataCase("empty file", {"train.csv": b""}, _csv_task(), "error", "empty file"),
    DataCase("header only", {"train.csv": _csv("text,label")}, _csv_task(), "error", "no usable training rows"),
    DataCase("all rows bad", {"train.csv": _csv("text,label", ",a", ",b")}, _csv_task(), "error", "empty text"),
    DataCase("empty text", {"train.csv": _csv("text,label", *GOOD, ",a")}, _csv_task(), "row", "empty text"),
    DataCase("empty label", {"train.csv": _csv("text,label", *GOOD, "some text,")}, _csv_task(), "row", "empty label"),
    DataCase(
        "wrong field count",
        {"train.csv": _csv("text,label", *GOOD, "a,b,c")},
        _csv_task(),
        "row",
        "expected 2 fields, found 3",
    ),
    _unseen_label_case("dev", "x,a", "zzz"),
    _unseen_label_case("test", "x,b", "new"),
    DataCase(
        "duplicated ids",
        {"train.csv": _csv("id,text,label", *[f"{i},{g}" for i, g in enumerate(GOOD)], "3,a repeated row,a")},
        _csv_task(id="id"),
        "row",
        "duplicate id '3'",
    ),
    DataCase(
        "id in both train and test",
        {
            "train.csv": _csv("id,text,label", *[f"{i},{g}" for i, g in enumerate(GOOD)]),
            "test.csv": _csv("id,text,label", "7,leaked,a", "100,fresh,b"),
        },
        _csv_task(id="id", source={"test": "{dir}/test.csv"}),
        "row",
        "duplicate id '7'",
    ),
    _score_row_case("NaN regression target", "q,t,nan", "is not finite"),
    _score_row_case("inf regression target", "q,t,inf", "is not finite"),
    _score_row_case("non-numeric regression target", "q,t,high", "is not a number"),
    _score_row_case("empty text_pair", "q,,1.0", "empty text_pair"),
    _conll_case("CoNLL line without a tag", (CONLL + "lonely\n\n").encode(), "row", "has no tab"),
    _conll_case("CoNLL empty tag", (CONLL + "word\t \n\n").encode(), "row", "empty tag"),
    _conll_case("CoNLL empty file", b"", "error", "empty file"),
    _jsonl_row_case(
        "tokens and tags of different length",
        "token_classification",
        '{"tokens": ["a", "b"], "tags": ["O", "B-X"]}\n' * 30,
        '{"tokens": ["a", "b"], "tags": ["O"]}',
        "2 tokens but 1 tags",
    ),
    _jsonl_row_case(
        "empty token list",
        "token_classification",
        '{"tokens": ["a"], "tags": ["B-X"]}\n' * 30,
        '{"tokens": [], "tags": []}',
        "empty token list",
    ),
    _jsonl_row_case("malformed JSON line", "classification", JSONL_TEXTS, "{broken", "not valid JSON"),
    _jsonl_row_case(
        "JSON line that is not an object", "classification", JSONL_TEXTS, "[1, 2]", "must hold a JSON object"
    ),
    DataCase(
        "JSONL empty file",
        {"train.jsonl": b""},
        {"type": "classification", "source": {"format": "jsonl", "train": "{dir}/train.jsonl"}},
        "error",
        "empty file",
    ),
    DataCase(
        "sequence longer than the model",
        {"train.csv": _csv("text,label", *GOOD, " ".join(["word"] * 200) + ",a")},
        _csv_task(),
        "truncate",
        "truncated",
        extra={"max_len": 16},
    ),
]
