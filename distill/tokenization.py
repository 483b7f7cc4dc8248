"""Train a WordPiece tokenizer on the recipe's own text, or load one; save as a HF fast tokenizer."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import AutoTokenizer, BertTokenizerFast, PreTrainedTokenizerBase

from .checkpoints import describe_failure, resolve_checkpoint
from .config import TokenizerConfig
from .data.examples import TaskData
from .errors import MtkdError
from .wordpiece import bert_normalizer, learn_wordpiece_vocab


def training_texts(tasks: dict[str, TaskData]) -> Iterator[str]:
    """Every training-split text of every task (never dev or test: no leakage into the vocab)."""
    for task in tasks.values():
        for ex in task.splits["train"]:
            yield " ".join(ex.text) if isinstance(ex.text, list) else ex.text
            if ex.text_pair:
                yield ex.text_pair


def train_wordpiece(
    texts: Iterable[str], vocab_size: int, min_frequency: int = 2, lowercase: bool = True
) -> BertTokenizerFast:
    """A BERT-style WordPiece tokenizer; CJK characters become one token each."""
    vocab = learn_wordpiece_vocab(texts, vocab_size, min_frequency, lowercase)
    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = bert_normalizer(lowercase)
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
    resolved = resolve_checkpoint(path_or_id)
    try:
        tok = AutoTokenizer.from_pretrained(resolved.path, use_fast=True)
    except (OSError, ValueError) as e:
        raise MtkdError(describe_failure(resolved, e).replace("checkpoint", "tokenizer", 1)) from None
    if not tok.is_fast:
        raise MtkdError(f"tokenizer {path_or_id!r} has no fast version; word alignment for tags needs one")
    return tok


def build_tokenizer(cfg: TokenizerConfig, tasks: dict[str, TaskData]) -> PreTrainedTokenizerBase:
    """The recipe's tokenizer: trained on the training texts, or loaded."""
    if cfg.from_pretrained:
        return load_tokenizer(cfg.from_pretrained)
    return train_wordpiece(training_texts(tasks), cfg.vocab_size, cfg.min_frequency, cfg.lowercase)
