"""Constrained tag decoding: the best valid BIO/BIOES path, on hand-made log-probabilities."""

from __future__ import annotations

import numpy as np

from distill.decoding import decode_words, first_subtokens, tag_scheme, transitions, viterbi

BIOES = ["O", "B-BRAND", "I-BRAND", "E-BRAND", "S-BRAND", "B-TYPE", "E-TYPE"]


def logp(rows: list[dict[str, float]], labels: list[str]) -> np.ndarray:
    """Log-probabilities with the given per-word preferences (others tiny)."""
    out = np.full((len(rows), len(labels)), np.log(1e-3))
    for w, prefs in enumerate(rows):
        for label, p in prefs.items():
            out[w, labels.index(label)] = np.log(p)
    return out


def test_scheme_is_read_from_the_labels():
    assert tag_scheme(BIOES) == "BIOES"
    assert tag_scheme(["O", "B-X", "I-X"]) == "BIO"
    assert tag_scheme(["NOUN", "VERB"]) is None and tag_scheme(["O"]) is None


def test_viterbi_repairs_an_unclosed_entity_that_argmax_would_emit():
    # argmax: B-BRAND I-BRAND O — invalid in BIOES (never closed), so strict scoring would drop it
    lp = logp([{"B-BRAND": 0.6, "S-BRAND": 0.3}, {"I-BRAND": 0.5, "E-BRAND": 0.4}, {"O": 0.9}], BIOES)
    assert [BIOES[i] for i in lp.argmax(1)] == ["B-BRAND", "I-BRAND", "O"]
    path = viterbi(lp, transitions(BIOES, "BIOES"))
    assert [BIOES[i] for i in path] == ["B-BRAND", "E-BRAND", "O"]


def test_viterbi_never_switches_type_inside_an_entity_and_keeps_valid_argmax():
    allowed = transitions(BIOES, "BIOES")
    lp = logp([{"B-BRAND": 0.9}, {"E-TYPE": 0.6, "E-BRAND": 0.3}], BIOES)
    assert [BIOES[i] for i in viterbi(lp, allowed)] == ["B-BRAND", "E-BRAND"]
    valid = logp([{"S-BRAND": 0.9}, {"O": 0.8}, {"B-TYPE": 0.7}, {"E-TYPE": 0.9}], BIOES)
    assert viterbi(valid, allowed) == valid.argmax(1).tolist()


def test_bio_i_must_follow_its_own_b():
    labels = ["O", "B-X", "I-X", "B-Y", "I-Y"]
    lp = logp([{"O": 0.6, "B-X": 0.3}, {"I-X": 0.9}], labels)
    assert [labels[i] for i in viterbi(lp, transitions(labels, "BIO"))] == ["B-X", "I-X"]


def test_words_are_read_at_their_first_subtoken_and_truncated_words_are_outside():
    word_ids = [None, 0, 0, 1, None]  # [CLS] w0 w0' w1 [SEP]; a third word was cut by truncation
    assert first_subtokens(word_ids, 3) == [1, 3, None]
    tokens = np.log(np.full((5, len(BIOES)), 1e-3))
    tokens[1, BIOES.index("B-BRAND")] = tokens[2, BIOES.index("O")] = tokens[3, BIOES.index("E-BRAND")] = 0.0
    assert [BIOES[i] for i in decode_words(tokens, word_ids, 3, BIOES)] == ["B-BRAND", "E-BRAND", "O"]
    plain = ["NOUN", "VERB"]  # no scheme: per-word argmax
    assert decode_words(np.log(np.array([[0.1, 0.9], [0.8, 0.2]])), [0, 1], 2, plain) == [1, 0]
