"""Train a WordPiece tokenizer on the recipe's own text, or load one; save as a HF fast tokenizer."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, BertTokenizerFast, PreTrainedTokenizerBase

from .config import TokenizerConfig
from .data.examples import TaskData
from .errors import MtkdError

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def training_texts(tasks: dict[str, TaskData]) -> Iterator[str]:
    """Every training-split text of every task (never dev or test: no leakage into the vocab)."""
    for task in tasks.values():
        for ex in task.splits["train"]:
            yield " ".join(ex.text) if isinstance(ex.text, list) else ex.text
            if ex.text_pair:
                yield ex.text_pair


WORD_START = "\u2581"  # marks word-initial pieces while learning merges


def _bert_normalizer(lowercase: bool) -> normalizers.Normalizer:
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
    normalizer, pre = _bert_normalizer(lowercase), pre_tokenizers.BertPreTokenizer()

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


def train_wordpiece(
    texts: Iterable[str], vocab_size: int, min_frequency: int = 2, lowercase: bool = True
) -> BertTokenizerFast:
    """A BERT-style WordPiece tokenizer; CJK characters become one token each."""
    vocab = learn_wordpiece_vocab(texts, vocab_size, min_frequency, lowercase)
    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = _bert_normalizer(lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    tok.decoder = decoders.WordPiece()
    return BertTokenizerFast(
        tokenizer_object=tok,
        do_lower_case=lowercase,
        tokenize_chinese_chars=True,
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
    )


def load_tokenizer(path_or_id: str) -> PreTrainedTokenizerBase:
    """A fast tokenizer from a local directory or hub id (offline machines need a local path)."""
    try:
        tok = AutoTokenizer.from_pretrained(path_or_id, use_fast=True)
    except (OSError, ValueError) as e:
        raise MtkdError(f"cannot load tokenizer {path_or_id!r}: {str(e).splitlines()[0]}") from None
    if not tok.is_fast:
        raise MtkdError(f"tokenizer {path_or_id!r} has no fast version; word alignment for tags needs one")
    return tok


def build_tokenizer(cfg: TokenizerConfig, tasks: dict[str, TaskData]) -> PreTrainedTokenizerBase:
    """The recipe's tokenizer: trained on the training texts, or loaded."""
    if cfg.from_pretrained:
        return load_tokenizer(cfg.from_pretrained)
    return train_wordpiece(training_texts(tasks), cfg.vocab_size, cfg.min_frequency, cfg.lowercase)
