"""From task config to examples: column mapping, label sets, splits and the bad-row policy."""

from __future__ import annotations

import json

import pytest

from distill.config import DataConfig, TaskConfig
from distill.data.loading import load_task
from distill.errors import DataError

RAISE, SKIP = DataConfig(on_error="raise"), DataConfig(on_error="skip")


def csv_task(tmp_path, train: str, test: str | None = None, **cfg) -> TaskConfig:
    (tmp_path / "train.csv").write_text(train, encoding="utf-8")
    source = {"format": "csv", "train": str(tmp_path / "train.csv")}
    if test is not None:
        (tmp_path / "test.csv").write_text(test, encoding="utf-8")
        source["test"] = str(tmp_path / "test.csv")
    return TaskConfig(type=cfg.pop("type", "classification"), source=source, **cfg)


TRAIN = "review,stars\n" + "".join(f"text number {i},{'good' if i % 3 else 'bad'}\n" for i in range(60))


def test_csv_columns_mapped_labels_inferred_and_dev_carved_with_a_seed(tmp_path):
    cfg = csv_task(tmp_path, TRAIN, "review,stars\nnice,good\nawful,bad\n", text="review", label="stars")
    task = load_task("sent", cfg, seed=0, data=RAISE)
    assert task.labels == ["bad", "good"]
    assert len(task.splits["test"]) == 2 and task.splits["test"][1].target == 0
    assert len(task.splits["dev"]) == 6 and len(task.splits["train"]) == 54
    again = load_task("sent", cfg, seed=0, data=RAISE)
    assert [e.text for e in again.splits["dev"]] == [e.text for e in task.splits["dev"]]
    other = load_task("sent", cfg, seed=1, data=RAISE)
    assert [e.text for e in other.splits["dev"]] != [e.text for e in task.splits["dev"]]


def test_missing_column_names_the_column_and_the_recipe_key(tmp_path):
    cfg = csv_task(tmp_path, TRAIN, text="body", label="stars")
    with pytest.raises(DataError, match=r"no column 'body' \(columns: review, stars\); set tasks.sent.text"):
        load_task("sent", cfg, seed=0, data=RAISE)


def test_test_label_unseen_in_train_raises_or_is_counted(tmp_path):
    cfg = csv_task(tmp_path, TRAIN, "review,stars\nok,good\nmeh,neutral\n", text="review", label="stars")
    with pytest.raises(DataError, match=r"test.csv:3: label 'neutral' never seen in train"):
        load_task("sent", cfg, seed=0, data=RAISE)
    task = load_task("sent", cfg, seed=0, data=SKIP)
    assert len(task.splits["test"]) == 1
    assert task.report["test"]["skipped"] == 1
    assert list(task.report["test"]["skipped_by_reason"].values()) == [1]


def test_empty_texts_and_non_finite_scores_are_bad_rows(tmp_path):
    rows = "q,t,s\n" + "".join(f"query {i},title {i},{i % 4}.5\n" for i in range(40))
    rows += ",title x,1.0\nquery y,title y,nan\nquery z,title z,high\n"
    cfg = csv_task(tmp_path, rows, type="regression", text="q", text_pair="t", label="s")
    with pytest.raises(DataError, match="empty text"):
        load_task("rel", cfg, seed=0, data=RAISE)
    task = load_task("rel", cfg, seed=0, data=SKIP)
    reasons = {k for s in task.report.values() for k in s["skipped_by_reason"]}
    assert reasons == {"empty text", "label 'nan' is not finite", "label 'high' is not a number"}
    assert sum(s["skipped"] for s in task.report.values()) == 3
    assert task.labels == [] and isinstance(task.splits["train"][0].target, float)
    assert task.splits["train"][0].text_pair.startswith("title")


def test_jsonl_token_task_and_length_mismatch(tmp_path):
    lines = [{"tokens": ["Nexa", "black", "phone"], "tags": ["B-BRAND", "B-COLOR", "O"]}] * 20
    lines.append({"tokens": ["a", "b"], "tags": ["O"]})
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    cfg = TaskConfig(type="token_classification", source={"format": "jsonl", "train": str(tmp_path / "t.jsonl")})
    task = load_task("attr", cfg, seed=0, data=SKIP)
    assert task.labels == ["O", "B-BRAND", "B-COLOR"]  # 'O' first
    assert task.splits["train"][0].target == [1, 2, 0]
    # bad rows are counted where they were read (train), before dev/test are carved out of it
    assert task.report["train"]["skipped_by_reason"] == {"2 tokens but 1 tags": 1}


def test_multilabel_cells_split_on_the_separator(tmp_path):
    rows = "text,tags\n" + "".join(f"item {i},{'red|sale' if i % 2 else 'blue'}\n" for i in range(30))
    cfg = csv_task(tmp_path, rows, type="multilabel_classification", label="tags")
    task = load_task("ml", cfg, seed=0, data=RAISE)
    assert task.labels == ["blue", "red", "sale"]
    targets = {e.text: e.target for split in task.splits.values() for e in split}
    assert targets["item 1"] == [0, 1, 1] and targets["item 2"] == [1, 0, 0]


def test_conll_source_with_space_tokens(tmp_path):
    block = "小\tB-HC\n米\tE-HC\n \tO\n手\tS-HP\n\n"
    (tmp_path / "train.conll").write_text(block * 30, encoding="utf-8")
    cfg = TaskConfig(type="token_classification", source={"format": "conll", "train": str(tmp_path / "train.conll")})
    task = load_task("ner", cfg, seed=0, data=RAISE)
    assert task.splits["train"][0].text == ["小", "米", " ", "手"]
    assert task.labels[0] == "O" and set(task.labels) == {"O", "B-HC", "E-HC", "S-HP"}


def test_builtin_table_is_inferred_from_columns_or_asked_for():
    cfg = TaskConfig(
        type="classification", source="builtin", text="review", label="sentiment", max_train=100, max_eval=20
    )
    task = load_task("s", cfg, seed=0, data=RAISE)
    assert task.labels == ["negative", "neutral", "positive"]
    assert len(task.splits["train"]) == 100 and len(task.splits["dev"]) == 20
    ambiguous = TaskConfig(type="classification", source="builtin", text="title", label="nothing")
    with pytest.raises(DataError, match="no single built-in table"):
        load_task("x", ambiguous, seed=0, data=RAISE)
