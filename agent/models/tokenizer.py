"""WordPiece tokenizers trained on a task's own training text, for models built from config.

Training takes well under a second on 10k sentences. A trained tokenizer is cached in memory
and as a JSON file (``tokenizers``' own format, never a pickle) under
``~/.cache/hpo-agent/tokenizers/<hash>.json`` (``$HPO_AGENT_CACHE_DIR`` replaces
``~/.cache/hpo-agent``); the hash covers the texts and the training settings.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Dict, Iterable, Optional

CACHE_ENV = "HPO_AGENT_CACHE_DIR"
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")  # ids 0..4
_MEMORY: Dict[str, Any] = {}


def cache_dir() -> Path:
    root = os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "hpo-agent")
    return Path(root) / "tokenizers"


def corpus_key(texts: Iterable[str], vocab_size: int, lowercase: bool, min_frequency: int) -> str:
    """A hash of the training texts and settings (the cache key)."""
    digest = hashlib.sha256(f"wordpiece-v1|{vocab_size}|{lowercase}|{min_frequency}|".encode())
    for text in texts:
        digest.update(text.encode("utf-8", "replace"))
        digest.update(b"\x00")
    return digest.hexdigest()[:24]


def _new_tokenizer(lowercase: bool):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    return tok


def _add_post_processor(tok) -> None:
    from tokenizers import processors

    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])


def train_wordpiece(texts: Iterable[str], vocab_size: int = 8000, lowercase: bool = True,
                    min_frequency: int = 2, use_cache: bool = True):
    """A ``PreTrainedTokenizerFast`` (BERT-style specials, pair template) trained on ``texts``."""
    from tokenizers import Tokenizer, trainers

    texts = [t for t in texts if t]
    if not texts:
        raise ValueError("cannot train a tokenizer on no text: the training split's text column is empty")
    key = corpus_key(texts, vocab_size, lowercase, min_frequency)
    if use_cache and key in _MEMORY:
        return _MEMORY[key]
    path = cache_dir() / f"{key}.json"
    tok = None
    if use_cache and path.is_file():
        try:
            tok = Tokenizer.from_file(str(path))
        except Exception:  # a damaged cache file: retrain and overwrite
            tok = None
    if tok is None:
        tok = _new_tokenizer(lowercase)
        trainer = trainers.WordPieceTrainer(vocab_size=int(vocab_size), min_frequency=int(min_frequency),
                                            special_tokens=list(SPECIAL_TOKENS), show_progress=False)
        tok.train_from_iterator(texts, trainer, length=len(texts))
        _add_post_processor(tok)
        if use_cache:
            _save(tok, path)
    wrapped = wrap(tok)
    if use_cache:
        _MEMORY[key] = wrapped
    return wrapped


def _save(tok, path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(tok.to_str(), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home is no reason to fail: the tokenizer stays cached in memory


def wrap(tok, model_max_length: Optional[int] = None):
    """Wrap a ``tokenizers.Tokenizer`` for ``transformers`` (padding, pairs, offsets)."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_max_length=model_max_length or 1_000_000)


def clear_memory_cache() -> None:
    _MEMORY.clear()
