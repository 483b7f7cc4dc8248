"""Task-agnostic (general) distillation: a compact encoder of any shape learns a teacher encoder's
self-attention relations on unlabelled text before task distillation starts from it.

    from distill.general import GeneralDistillConfig, general_corpus, cached_general

    corpus = general_corpus(tasks, GeneralDistillConfig())
    done = cached_general(lambda: teacher.encoder, "my-teacher", StudentModelConfig(layers=2, hidden=128, heads=2),
                          tokenizer, corpus, GeneralDistillConfig())
    distil(teacher, StudentModelConfig(from_pretrained=str(done.path)), Workspace(tasks, tokenizer, out), ...)
"""

from .cache import CachedGeneral, cached_general, general_key, general_root
from .config import GeneralDistillConfig
from .corpus import GeneralCorpus, general_corpus
from .train import GeneralDistilled, distil_general

__all__ = [
    "CachedGeneral",
    "GeneralCorpus",
    "GeneralDistillConfig",
    "GeneralDistilled",
    "cached_general",
    "distil_general",
    "general_corpus",
    "general_key",
    "general_root",
]
