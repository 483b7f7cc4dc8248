"""WordPiece training, CJK splitting, and word-tag alignment to sub-tokens (both directions)."""

from __future__ import annotations

import pytest

from distill.data.examples import Example
from distill.encoding import align_tags, collate, encode_examples
from distill.tasks import IGNORE_INDEX, task_type
from distill.tokenization import load_tokenizer, train_wordpiece
from distill.training.evaluate import words_from_subtokens

TEXTS = ["stainless steel water bottle", "waterproof boots", "小米手机 black phone case"] * 20


@pytest.fixture(scope="module")
def tokenizer():
    return train_wordpiece(TEXTS, vocab_size=120, min_frequency=1)


def test_cjk_characters_become_one_token_each(tokenizer):
    assert tokenizer.tokenize("小米手机") == ["小", "米", "手", "机"]


def test_saved_tokenizer_reloads_as_fast_and_encodes_identically(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path)
    again = load_tokenizer(str(tmp_path))
    assert again.is_fast
    assert again("waterproof 小米 boots")["input_ids"] == tokenizer("waterproof 小米 boots")["input_ids"]


def test_align_tags_first_subtoken_carries_the_tag():
    #            [CLS] w0   w0   w1   [SEP]
    word_ids = [None, 0, 0, 1, None]
    assert align_tags(word_ids, [5, 7]) == [IGNORE_INDEX, 5, IGNORE_INDEX, 7, IGNORE_INDEX]


def test_token_examples_with_rare_words_split_and_realign(tokenizer):
    words = ["bootsteel", "waterproof", " ", "boots"]  # a rare word splits; a space token must not vanish
    enc = encode_examples(tokenizer, [Example(words, [1, 0, 0, 2])], task_type("token_classification"), 32)
    ids, targets, wids = enc.input_ids[0], enc.targets[0], enc.word_ids[0]
    assert len(tokenizer.tokenize("bootsteel")) > 1
    assert sorted({w for w in wids if w is not None}) == [0, 1, 2, 3]
    firsts = [t for t in targets if t != IGNORE_INDEX]
    assert firsts == [1, 0, 0, 2]
    # the model's sub-token predictions map back to exactly one tag per word
    assert words_from_subtokens(targets, wids, 4, outside=0) == [1, 0, 0, 2]
    assert len(ids) == len(targets)


def test_truncation_is_counted_and_cut_words_get_outside(tokenizer):
    words = ["boots"] * 40
    enc = encode_examples(tokenizer, [Example(words, [1] * 40)], task_type("token_classification"), 10)
    assert enc.truncated == 1 and len(enc.input_ids[0]) == 10
    back = words_from_subtokens([1] * 10, enc.word_ids[0], 40, outside=0)
    assert back[:8] == [1] * 8 and back[8:] == [0] * 32


def test_pairs_get_segment_ids_and_batches_pad(tokenizer):
    exs = [Example("boots", 1.5, "waterproof boots"), Example("stainless steel water bottle", 0.0, "case")]
    enc = encode_examples(tokenizer, exs, task_type("regression"), 32)
    assert set(enc.token_type_ids[0]) == {0, 1}
    batch = collate(enc, [0, 1], tokenizer.pad_token_id, tags=False)
    assert batch["input_ids"].shape == batch["attention_mask"].shape
    assert batch["attention_mask"].sum(1).tolist() == [len(enc.input_ids[0]), len(enc.input_ids[1])]
    assert batch["labels"].tolist() == [1.5, 0.0]


def test_vocabulary_is_identical_across_processes():
    """Hash-map order must not leak into the vocabulary (huggingface/tokenizers#1794)."""
    import subprocess
    import sys

    code = (
        "from distill.wordpiece import learn_wordpiece_vocab\n"
        "from distill.data.builtin import generate_table\n"
        "print(learn_wordpiece_vocab([r['review'] for r in generate_table('reviews', 800)], 600, 2, True))\n"
    )
    runs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        for _ in range(3)
    }
    assert len(runs) == 1
