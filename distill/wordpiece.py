"""Learning a WordPiece vocabulary deterministically (needs only the ``tokenizers`` library)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

WORD_START = "\u2581"  # marks word-initial pieces while learning merges


def bert_normalizer(lowercase: bool) -> normalizers.Normalizer:
    return normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=lowercase
    )


def learn_wordpiece_vocab(texts: Iterable[str], vocab_size: int, min_frequency: int, lowercase: bool) -> list[str]:
    """A WordPiece vocabulary learned with BPE merges, identical from run to run.

    ``WordPieceTrainer`` gives different vocabularies across processes: it numbers its ``##``
    pieces in hash-map order and those numbers break ties between equally frequent merges
    (huggingface/tokenizers#1794). Plain BPE numbers only the sorted alphabet, so we learn BPE
    merges on words marked with a word-start symbol and rename the pieces the WordPiece way:
    ``▁ab`` → ``ab`` (word start), ``ab`` → ``##ab`` (continuation). That is what the trainer
    does internally (BPE, then ``WordPiece.from_bpe``), without the ordering accident.
    """
    normalizer, pre = bert_normalizer(lowercase), pre_tokenizers.BertPreTokenizer()

    def marked() -> Iterator[str]:
        for text in texts:
            words = pre.pre_tokenize_str(normalizer.normalize_str(text))
            yield " ".join(WORD_START + w for w, _ in words)

    bpe = Tokenizer(models.BPE(unk_token="[UNK]"))
    bpe.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    bpe.train_from_iterator(
        marked(), trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, show_progress=False)
    )
    learned = [t for t, _ in sorted(bpe.get_vocab().items(), key=lambda kv: kv[1])]
    chars = sorted({t for t in learned if len(t) == 1 and t != WORD_START})
    # every character both as a word start and a continuation: nothing seen in training is [UNK]
    pieces = [t[1:] if t.startswith(WORD_START) else "##" + t for t in learned if t != WORD_START]
    vocab = list(dict.fromkeys([*SPECIAL_TOKENS, *chars, *("##" + c for c in chars), *pieces]))
    return vocab[:vocab_size] if len(vocab) > vocab_size else vocab
