"""Each source format read from small files the tests write themselves."""

from __future__ import annotations

import json

import pytest

from distill.data.readers import RowError, read_conll, read_csv, read_hf, read_jsonl
from distill.errors import DataError


def test_csv_rows_with_bom_header_and_a_bad_field_count(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text('\ufefftext,label\n"hello, world",pos\n\nonly_one_field\nbye,neg\n', encoding="utf-8")
    rows = list(read_csv(str(p)))
    assert [r for _, r in rows if not isinstance(r, RowError)] == [
        {"text": "hello, world", "label": "pos"},
        {"text": "bye", "label": "neg"},
    ]
    bad = [(w, r) for w, r in rows if isinstance(r, RowError)]
    assert len(bad) == 1 and bad[0][0].endswith(":4") and "expected 2 fields" in bad[0][1].reason


def test_csv_wrong_encoding_names_the_file(tmp_path):
    p = tmp_path / "latin.csv"
    p.write_bytes("text,label\ncaf\xe9,pos\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin\.csv.*not valid utf-8"):
        list(read_csv(str(p)))
    assert next(iter(read_csv(str(p), encoding="latin-1")))[1] == {"text": "café", "label": "pos"}


def test_csv_empty_file_is_a_named_error(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("")
    with pytest.raises(DataError, match=r"empty\.csv: empty file"):
        list(read_csv(str(p)))


def test_jsonl_reads_objects_and_reports_malformed_lines(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text(json.dumps({"text": "a", "label": "x"}) + "\n{not json\n\n[1, 2]\n")
    rows = list(read_jsonl(str(p)))
    assert rows[0] == (f"{p}:1", {"text": "a", "label": "x"})
    assert isinstance(rows[1][1], RowError) and "not valid JSON" in rows[1][1].reason
    assert isinstance(rows[2][1], RowError) and rows[2][0].endswith(":4")


def test_conll_splits_on_last_tab_and_keeps_space_tokens(tmp_path):
    p = tmp_path / "d.conll"
    # a space is a token here; a token may itself contain a tab-free odd character
    p.write_text("小\tB-HC\n米\tE-HC\n \tO\n手\tS-HP\n\nA\tO\nno-tab-line\n\n\nB\tO\n", encoding="utf-8")
    rows = list(read_conll(str(p)))
    assert rows[0][1] == {"tokens": ["小", "米", " ", "手"], "tags": ["B-HC", "E-HC", "O", "S-HP"]}
    assert isinstance(rows[1][1], RowError) and "no tab" in rows[1][1].reason
    assert rows[2][1] == {"tokens": ["B"], "tags": ["O"]}
    assert len(rows) == 3


def test_conll_windows_line_endings(tmp_path):
    p = tmp_path / "d.conll"
    p.write_bytes(b"a\tO\r\nb\tB-X\r\n\r\n")
    assert next(iter(read_conll(str(p))))[1] == {"tokens": ["a", "b"], "tags": ["O", "B-X"]}


def test_hf_save_to_disk_folder_decodes_class_labels(tmp_path):
    datasets = pytest.importorskip("datasets")
    features = datasets.Features(
        {
            "text": datasets.Value("string"),
            "label": datasets.ClassLabel(names=["neg", "pos"]),
            "tags": datasets.Sequence(datasets.ClassLabel(names=["O", "B-X"])),
        }
    )
    ds = datasets.Dataset.from_dict({"text": ["good", "bad"], "label": [1, 0], "tags": [[0], [1]]}, features=features)
    datasets.DatasetDict({"train": ds, "validation": ds}).save_to_disk(str(tmp_path / "saved"))
    rows = [r for _, r in read_hf(str(tmp_path / "saved"), "train")]
    assert rows == [{"text": "good", "label": "pos", "tags": ["O"]}, {"text": "bad", "label": "neg", "tags": ["B-X"]}]


def test_hf_load_dataset_on_a_local_data_folder(tmp_path):
    pytest.importorskip("datasets")
    folder = tmp_path / "hub_like"
    folder.mkdir()
    (folder / "train.csv").write_text("text,label\nhello,a\nbye,b\n")
    (folder / "test.csv").write_text("text,label\nhi,a\n")
    rows = [r for _, r in read_hf(str(folder), "train")]
    assert rows == [{"text": "hello", "label": "a"}, {"text": "bye", "label": "b"}]
    with pytest.raises(DataError, match="split 'validation'"):
        list(read_hf(str(folder), "validation"))
