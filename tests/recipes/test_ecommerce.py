"""The real-data recipes: data root and caps, recipe inheritance, the GPU-scale variant, transfer."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from distill.errors import DataUnavailable, RecipeError
from recipes.cli import main
from recipes.loader import load_recipe
from tests.conftest import TINY_MODEL, TINY_TRAIN, tiny_bert_config, tiny_recipe, write_recipe

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"real e-commerce data not on this machine ({SHARED} is absent)"
)
FILES = ("reviews-zh/{}.csv", "ner-zh/{}.bieos", "relevance-en/{}.csv", "intent-en/{}.csv")


def test_a_missing_data_root_skips_the_recipe_with_its_reason(tmp_path, capsys):
    assert main(["run", "ecommerce", "--set", f"data.root={tmp_path / 'absent'}", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "skipped" in err and "absent" in err and "--set data.root=PATH" in err
    assert not any(tmp_path.iterdir())  # nothing ran
    with pytest.raises(DataUnavailable):
        load_recipe("ecommerce", [f"data.root={tmp_path / 'absent'}"])


def test_data_root_joins_relative_paths_and_caps_apply_to_every_task(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "t.csv").write_text("text,label\na,x\nb,y\n", encoding="utf-8")
    recipe = tiny_recipe(data={"root": str(tmp_path / "d"), "max_train": 50})
    recipe["tasks"]["csv"] = {"type": "classification", "source": {"format": "csv", "train": "t.csv"}}
    recipe["tasks"]["category"]["max_train"] = 7
    loaded = load_recipe(str(write_recipe(tmp_path / "r.yaml", recipe)))
    assert loaded.tasks["csv"].source.train == str(tmp_path / "d" / "t.csv")
    assert loaded.tasks["csv"].max_train == 50 and loaded.tasks["category"].max_train == 7
    # the root is consumed: the dumped recipe (recipe.yaml of a run) loads back to the same thing
    again = write_recipe(tmp_path / "again.yaml", loaded.model_dump(mode="json"))
    assert load_recipe(str(again)) == loaded
    # a head can be dropped from the command line
    assert set(load_recipe(str(tmp_path / "r.yaml"), ["tasks.score=null"]).tasks) == {"category", "attributes", "csv"}


def test_base_recipes_merge_sections_and_refuse_loops(tmp_path):
    write_recipe(tmp_path / "parent.yaml", tiny_recipe())
    child = {"base": str(tmp_path / "parent.yaml"), "name": "child", "teacher": {"train": {"epochs": 9}}}
    loaded = load_recipe(str(write_recipe(tmp_path / "child.yaml", child)))
    assert loaded.name == "child" and loaded.teacher.train.epochs == 9
    assert loaded.teacher.train.batch_size == TINY_TRAIN["batch_size"] and loaded.teacher.model.layers == 1
    (tmp_path / "loop.yaml").write_text(yaml.safe_dump({"base": str(tmp_path / "loop.yaml")}), encoding="utf-8")
    with pytest.raises(RecipeError, match="loops back"):
        load_recipe(str(tmp_path / "loop.yaml"))


def _fake_data_root(tmp_path: Path) -> str:
    """Empty stand-ins for the shared files: enough to validate a recipe's schema without the data."""
    for pattern in FILES:
        for split in ("train", "dev", "test"):
            path = tmp_path / pattern.format(split)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    return str(tmp_path)


def test_ecommerce_large_validates_and_builds_its_gpu_scale_models(tmp_path):
    from distill.model import HeadSpec, MultiTaskModel
    from distill.student import build_student
    from distill.tokenization import train_wordpiece

    recipe = load_recipe("ecommerce-large", [f"data.root={_fake_data_root(tmp_path)}"])
    assert recipe.teacher.train.amp and recipe.teacher.train.batch_size >= 128
    assert recipe.tasks["category"].max_train is None  # every row, unlike the CPU recipe
    tok = train_wordpiece(["a tiny stand-in vocabulary 商品"] * 5, vocab_size=120)
    heads = [
        HeadSpec("category", "classification", tuple("abcdefghij")),
        HeadSpec("attributes", "token_classification", ("O", "B-HP")),
    ]
    with torch.device("meta"):  # shapes only: no memory for BERT-base weights
        teacher = MultiTaskModel.from_config(recipe.teacher.model, heads, tok)
        student = build_student(recipe.student.model.model_copy(update={"init": "random"}), teacher, tok)
    assert (teacher.config.num_hidden_layers, teacher.config.hidden_size, teacher.config.num_attention_heads) == (
        12,
        768,
        12,
    )
    assert (
        80e6
        < teacher.num_parameters(encoder_only=True) - teacher.encoder.embeddings.word_embeddings.weight.numel()
        < 90e6
    )
    assert student.config.num_hidden_layers == 6 and recipe.student.model.init == "teacher_layers"


@needs_shared
def test_ecommerce_recipe_reads_the_shared_data(tmp_path):
    from distill.data.loading import load_tasks

    recipe = load_recipe("ecommerce", ["data.max_train=300"])
    tasks = load_tasks(recipe.tasks, recipe.seed, recipe.data)
    assert len(tasks["category"].labels) == 10 and tasks["sentiment"].labels == ["0", "1"]
    assert len(tasks["intent"].labels) == 27
    assert {"B-HP", "E-HC", "S-HP"} <= set(tasks["attributes"].labels) and tasks["attributes"].labels[0] == "O"
    scores = [ex.target for ex in tasks["relevance"].splits["train"]]
    assert min(scores) >= 1.0 and max(scores) <= 3.0 and tasks["relevance"].splits["test"][0].text_pair
    # one review feeds two heads: the same texts, two label sets
    assert [e.text for e in tasks["category"].splits["test"]] == [e.text for e in tasks["sentiment"].splits["test"]]


def test_teacher_starts_from_a_locally_saved_bert_checkpoint_with_its_tokenizer(tmp_path):
    from safetensors.torch import load_file
    from transformers import BertModel

    from distill.tokenization import train_wordpiece

    ckpt = tmp_path / "tiny-bert"
    tok = train_wordpiece([f"red cotton shirt size {i} wool socks ceramic mug" for i in range(50)], vocab_size=200)
    torch.manual_seed(1)
    bert = BertModel(tiny_bert_config(len(tok)))
    bert.save_pretrained(ckpt)
    tok.save_pretrained(ckpt)
    recipe = tiny_recipe(
        teacher={"model": {"from_pretrained": str(ckpt)}, "train": {**TINY_TRAIN, "epochs": 1, "lr": 1e-12}}
    )
    del recipe["tokenizer"]  # the checkpoint's own tokenizer is used
    path = write_recipe(tmp_path / "r.yaml", recipe)
    assert main(["run", str(path), "--out", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "tokenizer" / "vocab.txt").read_text() == (ckpt / "vocab.txt").read_text()
    trained = load_file(tmp_path / "run" / "teacher" / "model" / "model.safetensors")
    for name, value in bert.state_dict().items():
        if "pooler" not in name:  # heads read [CLS] themselves; the pooler is dropped
            assert torch.allclose(trained[f"encoder.{name}"], value, atol=1e-6), name
    assert not any("pooler" in k for k in trained)
    bad = {**recipe, "tokenizer": {"train": "wordpiece"}}
    with pytest.raises(RecipeError, match="comes with its own vocabulary"):
        load_recipe(str(write_recipe(tmp_path / "bad.yaml", bad)))
    assert TINY_MODEL  # the tiny shapes stay the shared ones


def test_ecommerce_student_has_at_most_a_sixth_of_the_teachers_encoder(tmp_path):
    from transformers import BertModel

    from distill.model import encoder_config

    recipe = load_recipe("ecommerce", [f"data.root={_fake_data_root(tmp_path)}"])
    vocab = recipe.tokenizer.vocab_size
    with torch.device("meta"):
        sizes = [
            BertModel(encoder_config(m, vocab, 0), add_pooling_layer=False).num_parameters()
            for m in (recipe.teacher.model, recipe.student.model)
        ]
    assert sizes[1] <= sizes[0] / 6, sizes  # the acceptance bound of the real-data distillation


def test_ecommerce_joint_is_the_base_recipe_with_both_review_heads_in_one_pass(tmp_path):
    root = f"data.root={_fake_data_root(tmp_path)}"
    joint, base = load_recipe("ecommerce-joint", [root]), load_recipe("ecommerce", [root])
    assert joint.data.same_rows_per_source and joint.teacher.train.share_inputs and joint.student.train.share_inputs
    assert joint.teacher.train.epochs == base.teacher.train.epochs + 1
    assert joint.teacher.model == base.teacher.model and joint.student.model == base.student.model
    assert joint.tasks == base.tasks and joint.data.max_train == base.data.max_train


@needs_shared
def test_ecommerce_joint_trains_category_and_sentiment_in_one_unit():
    from distill.data.loading import load_tasks
    from distill.encoding import encode_examples
    from distill.tokenization import train_wordpiece
    from distill.training.shared_inputs import shared_input_groups

    recipe = load_recipe("ecommerce-joint", ["data.max_train=200", "data.max_eval=20"])
    tasks = load_tasks(recipe.tasks, recipe.seed, recipe.data)
    texts = [
        ex.text if isinstance(ex.text, str) else "".join(ex.text) for d in tasks.values() for ex in d.splits["train"]
    ]
    tok = train_wordpiece(texts, vocab_size=2000)
    train = {t: encode_examples(tok, d.splits["train"], d.kind, 64) for t, d in tasks.items()}
    groups = shared_input_groups(tasks, train, recipe.teacher.train.share_inputs)
    assert groups["category"] == ["category", "sentiment"] and "sentiment" not in groups
    assert all(groups[t] == [t] for t in ("attributes", "relevance", "intent"))
