"""MLM pretraining: what gets masked, and that training lowers the held-out MLM loss."""

from __future__ import annotations

import random

import torch

from distill.config import ModelConfig, PretrainConfig, TaskConfig
from distill.pretraining import distinct_texts, mask_batch, mlm_eval, pretrain_mlm, tokenize_corpus
from distill.tasks import IGNORE_INDEX
from distill.tokenization import train_wordpiece
from distill.training.sampling import length_grouped
from distill.workspace import Placement

TEXTS = [f"red cotton shirt size {i} 纯棉衬衫 brand acme" for i in range(40)] + [
    f"blue wool socks pack of {i} 羊毛袜 brand zeta" for i in range(40)
]


def _tokenizer():
    return train_wordpiece(TEXTS, vocab_size=300)


def test_whole_word_masking_masks_every_piece_of_a_chosen_word():
    tok = _tokenizer()
    corpus = tokenize_corpus(tok, ["unbelievably comfortable merino underlayers 纯棉"] * 50, 32)
    batch = mask_batch(corpus, list(range(50)), tok, 0.3, True, random.Random(0))
    words = corpus.word_ids[0]
    for row in range(50):
        picked = (batch["labels"][row] != IGNORE_INDEX).tolist()
        for w in set(x for x in words if x is not None):
            positions = [p for p, x in enumerate(words) if x == w]
            assert len({picked[p] for p in positions}) == 1  # all pieces of a word, or none
        assert not picked[0] and not picked[len(words) - 1]  # never [CLS]/[SEP]
    labels, ids = batch["labels"], batch["input_ids"]
    chosen = labels != IGNORE_INDEX
    original = torch.tensor([corpus.input_ids[0]] * 50)
    assert torch.equal(labels[chosen], original[chosen])
    share_masked = float((ids[chosen] == tok.mask_token_id).float().mean())
    assert 0.65 < share_masked < 0.95  # 80% [MASK], the rest random or kept
    assert torch.equal(ids[~chosen], original[~chosen])


def test_length_grouped_batches_cover_every_example_once_with_less_padding():
    lengths = [random.Random(i).randrange(5, 120) for i in range(1000)]
    rng = random.Random(0)
    order = rng.sample(range(1000), 1000)
    batches = length_grouped(order, lengths, 16, rng)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    plain = sum(max(lengths[i] for i in order[j : j + 16]) * len(order[j : j + 16]) for j in range(0, 1000, 16))
    assert padded < 0.8 * plain


def test_mlm_pretraining_lowers_held_out_loss_and_saves_a_loadable_encoder(tmp_path):
    from transformers import AutoModel

    tok = _tokenizer()
    model_cfg = ModelConfig(layers=1, hidden=32, heads=2, dropout=0.0, attention_dropout=0.0, max_position=64)
    cfg = PretrainConfig(epochs=8, batch_size=16, lr=3e-3, max_len=32, warmup=0.0)
    dev = TEXTS[::7]
    untrained = pretrain_mlm(
        cfg.model_copy(update={"max_steps": 1}), model_cfg, tok, TEXTS, dev, Placement(tmp_path / "a")
    )
    result = pretrain_mlm(cfg, model_cfg, tok, TEXTS, dev, Placement(tmp_path / "b"))
    first, last = untrained["history"][0]["dev"], result["history"][-1]["dev"]
    assert last["loss"] < first["loss"] - 1.0 and last["accuracy"] > first["accuracy"] + 0.2
    encoder = AutoModel.from_pretrained(tmp_path / "b" / "encoder", add_pooling_layer=False)
    assert encoder.config.vocab_size == len(tok)


def test_distinct_texts_use_train_only_and_deduplicate():
    from tests.conftest import builtin_task, prepare_tasks

    tasks, _, _ = prepare_tasks({"score": TaskConfig(**builtin_task("score", 120))})
    train = distinct_texts(tasks, "train")
    assert len(train) == len(set(train))
    dev_only = set(distinct_texts(tasks, "dev")) - {
        t for ex in tasks["score"].splits["train"] for t in (ex.text, ex.text_pair)
    }
    assert dev_only and not dev_only & set(train)  # no dev text leaks into pretraining
    assert len(distinct_texts(tasks, "train", limit=10, seed=1)) == 10


def test_mlm_eval_is_deterministic():
    tok = _tokenizer()
    from distill.pretraining import build_mlm

    model = build_mlm(ModelConfig(layers=1, hidden=32, heads=2, max_position=64), tok)
    corpus = tokenize_corpus(tok, TEXTS[:20], 32)
    cfg = PretrainConfig()
    assert mlm_eval(model, corpus, tok, cfg, torch.device("cpu")) == mlm_eval(
        model, corpus, tok, cfg, torch.device("cpu")
    )
