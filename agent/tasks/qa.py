"""Extractive question answering: squad (v1.1) and squad_v2 (with unanswerable questions).

Questions and contexts are tokenised together (question first, context truncated, long contexts
split into overlapping windows of ``max_length`` tokens with ``doc_stride`` overlap). Training
labels each window with the answer's start/end token, or the [CLS] position when the answer is
absent from it (or the question has none). Prediction follows the usual post-processing: the
best-scoring span (start ≤ end, at most ``max_answer_length`` tokens, inside the context) over
the question's windows; for SQuAD 2.0, "no answer" when the [CLS] score beats it. Metrics are the
official script's exact match and F1 (:mod:`.squad_metrics`), as fractions; the task optimises F1.

Splits: with the hub's train split, validation is carved out of train by article (title) and the
hub's validation split is the test split. The local mirror holds only 626 validation questions
from 2 articles, so there the questions are split 60/20/20 into train / validation / test by
paragraph (by article when there are at least 5), in a seeded order; a paragraph never straddles
two splits. ``squad`` on a mirror without a ``squad/`` folder uses the answerable questions of
the ``squad_v2/`` mirror (SQuAD 2.0's answerable questions are SQuAD 1.1-style questions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence

import numpy as np

from ..errors import DataError, TaskOptionError
from ..metafeatures import TaskDescription
from ..models.text import family_of
from .base import Metric, Task
from .hub import HubSource, group_split, load_splits, mirror_files, resolve_data_dir
from .squad_metrics import squad_evaluate

SQUAD = HubSource("rajpurkar/squad", None, "squad", ("train", "validation"))
SQUAD_V2 = HubSource("rajpurkar/squad_v2", None, "squad_v2", ("train", "validation"))
MAX_VALIDATION = 500
MAX_TEST = 1000
DEFAULT_NUM_LAYERS = 6
EVAL_BATCH = 32
N_BEST = 20


@dataclass
class QAExample:
    id: str
    title: str
    context: str
    question: str
    answers: List[str]
    starts: List[int]


def examples_from(ds: Any) -> List[QAExample]:
    cols = {c: list(ds[c]) for c in ("id", "title", "context", "question", "answers")}
    return [QAExample(str(cols["id"][i]), str(cols["title"][i]), cols["context"][i], cols["question"][i],
                      list(cols["answers"][i]["text"]), [int(s) for s in cols["answers"][i]["answer_start"]])
            for i in range(len(cols["id"]))]


def _subset(examples: List[QAExample], cap: Optional[int], rng: np.random.Generator) -> List[QAExample]:
    if cap is None or len(examples) <= cap:
        return examples
    keep = np.sort(rng.choice(len(examples), size=int(cap), replace=False))
    return [examples[i] for i in keep]


def arrange_examples(loaded: Dict[str, List[QAExample]], seed: int, max_train: Optional[int] = None,
                     max_validation: Optional[int] = None, max_test: Optional[int] = None,
                     fractions: Sequence[float] = (0.6, 0.2, 0.2)) -> Dict[str, List[QAExample]]:
    """train / validation / test question lists (see the module docstring for the rules)."""
    if "train" in loaded and loaded["train"]:
        train = loaded["train"]
        titles = [e.title for e in train]
        if loaded.get("validation"):
            tr, va = group_split(titles, (0.9, 0.1), seed)
            parts = {"train": [train[i] for i in tr], "validation": [train[i] for i in va],
                     "test": loaded["validation"]}
        else:
            tr, va, te = group_split(titles, fractions, seed)
            parts = {"train": [train[i] for i in tr], "validation": [train[i] for i in va],
                     "test": [train[i] for i in te]}
    else:
        pool = loaded.get("validation") or []
        if len(pool) < 3:
            raise DataError(f"too few questions ({len(pool)}) to split into train, validation and test")
        titles = [e.title for e in pool]
        groups = titles if len(set(titles)) >= 5 else [e.context for e in pool]
        tr, va, te = group_split(groups, fractions, seed)
        parts = {"train": [pool[i] for i in tr], "validation": [pool[i] for i in va], "test": [pool[i] for i in te]}
    rng = np.random.default_rng(seed + 1)
    for split, cap in (("train", max_train), ("validation", max_validation), ("test", max_test)):
        parts[split] = _subset(parts[split], cap, rng)
    return parts


class QATask(Task):
    """SQuAD-style extractive QA with a transformer encoder and a span head."""

    activation_model = "transformer"

    name = "squad_v2"
    metric = Metric("f1", "max")
    version_2 = True
    source = SQUAD_V2

    def __init__(self, seed: int = 0, max_train: Optional[int] = None, data_dir: Optional[str] = None,
                 model: str = "bert", max_length: int = 256, doc_stride: int = 64, max_answer_length: int = 30,
                 hidden_size: int = 128, vocab_size: int = 8000, max_validation: Optional[int] = MAX_VALIDATION,
                 max_test: Optional[int] = MAX_TEST, name: Optional[str] = None):
        super().__init__(seed, max_train, data_dir)
        if name:
            self.name = name
        self.model_name = str(model)
        self.model_family = family_of(self.model_name)
        self.max_length = int(max_length)
        self.doc_stride = int(doc_stride)
        if self.max_length < 64:
            raise TaskOptionError(f"max_length is {self.max_length}, but QA needs >= 64 tokens (question + context)")
        if not 0 <= self.doc_stride < self.max_length // 2:
            raise TaskOptionError(f"doc_stride is {self.doc_stride}, but must be in [0, max_length/2)")
        self.max_answer_length = int(max_answer_length)
        self.hidden_size = int(hidden_size)
        self.vocab_size = int(vocab_size)
        self.max_validation = max_validation
        self.max_test = max_test
        self.data_note = ""

    # -- data ------------------------------------------------------------------------------------
    def read_examples(self) -> Dict[str, List[QAExample]]:
        loaded = load_splits(self.source, self.data_dir)
        return {split: examples_from(ds) for split, ds in loaded.items()}

    def load(self) -> None:
        from ..models import text as text_models

        parts = arrange_examples(self.read_examples(), self.seed, self.max_train, self.max_validation, self.max_test)
        for split, exs in parts.items():
            if not exs:
                raise DataError(f"task '{self.name}' has no {split} questions after splitting")
        self.examples = parts
        self.spec = text_models.resolve_text_model(self.model_name, self.hidden_size)
        corpus = list({e.context: None for e in parts["train"]}) + [e.question for e in parts["train"]]
        self.tokenizer = text_models.text_tokenizer(self.spec, corpus, self.vocab_size)
        self._token_types = text_models.uses_token_type_ids(self.spec)
        self.max_length = min(self.max_length, text_models.max_positions(self.spec))
        self.features = {split: self._features(exs, training=(split == "train")) for split, exs in parts.items()}

    def _features(self, examples: List[QAExample], training: bool) -> Dict[str, Any]:
        import torch

        from .text import _pad_encoding

        tok = self.tokenizer
        enc = tok(self._questions(examples), [e.context for e in examples], truncation="only_second",
                  max_length=self.max_length, stride=self.doc_stride, return_overflowing_tokens=True,
                  return_offsets_mapping=True, padding=False, return_token_type_ids=self._token_types,
                  return_attention_mask=False)
        sample_map = enc["overflow_to_sample_mapping"]
        cls_id = tok.cls_token_id
        starts, ends, offsets, cls_positions = [], [], [], []
        for i, ids in enumerate(enc["input_ids"]):
            seq_ids = enc.sequence_ids(i)
            offs = enc["offset_mapping"][i]
            cls = ids.index(cls_id) if cls_id in ids else 0
            ctx = [k for k, s in enumerate(seq_ids) if s == 1]
            ex = examples[sample_map[i]]
            start = end = cls
            if ex.answers and ctx:
                a0 = ex.starts[0]
                a1 = a0 + len(ex.answers[0])
                c0, c1 = ctx[0], ctx[-1]
                if offs[c0][0] <= a0 and offs[c1][1] >= a1:
                    s = c0
                    while s <= c1 and offs[s][0] <= a0:
                        s += 1
                    e = c1
                    while e >= c0 and offs[e][1] >= a1:
                        e -= 1
                    start, end = s - 1, e + 1
            starts.append(start)
            ends.append(end)
            cls_positions.append(cls)
            offsets.append([tuple(o) if s == 1 else None for o, s in zip(offs, seq_ids)])
        out = _pad_encoding(enc, tok.pad_token_id or 0, self._token_types, torch.zeros(len(starts)))
        out.pop("labels")
        out["start_positions"] = torch.tensor(starts, dtype=torch.long)
        out["end_positions"] = torch.tensor(ends, dtype=torch.long)
        if not training:
            out["example_index"] = list(sample_map)
            out["offsets"] = offsets
            out["cls"] = cls_positions
        return out

    def max_question_tokens(self) -> int:
        """Longer questions are cut so that every window keeps more context tokens than the stride."""
        return max(8, min(64, self.max_length - self.doc_stride - 4 - 16))

    def _questions(self, examples: List[QAExample]) -> List[str]:
        questions = [e.question.lstrip() for e in examples]
        limit = self.max_question_tokens()
        enc = self.tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True,
                             return_attention_mask=False, return_token_type_ids=False)
        for i, offsets in enumerate(enc["offset_mapping"]):
            if len(offsets) > limit:
                questions[i] = questions[i][:offsets[limit - 1][1]]
        return questions

    def describe(self) -> TaskDescription:
        self.ensure_loaded()
        train = self.examples["train"]
        lengths = self.features["train"]["lengths"].double()
        extra = {"max_length": float(self.max_length), "doc_stride": float(self.doc_stride),
                 "n_train_features": float(len(lengths)),
                 "has_answer_fraction": float(np.mean([bool(e.answers) for e in train])),
                 "n_validation": float(len(self.examples["validation"])), "n_test": float(len(self.examples["test"])),
                 "hidden_size": float(self.spec.hidden_size)}
        return TaskDescription(
            name=self.name, modality="text", task_type="qa", n_train=len(train), n_classes=1, class_counts=(),
            input_size=float(lengths.mean()), model_family=self.model_family, pretrained=self.spec.pretrained,
            model_params=self.count_params({"num_layers": DEFAULT_NUM_LAYERS, "dropout": 0.1}), extra=extra)

    def default_num_layers(self) -> int:
        from ..models.text import effective_layers

        self.ensure_loaded()
        return effective_layers(self.spec, DEFAULT_NUM_LAYERS)

    def max_num_layers(self) -> Optional[int]:
        from ..models.text import max_layers

        self.ensure_loaded()
        return max_layers(self.spec)

    # -- model -----------------------------------------------------------------------------------
    def build_model(self, config: Dict[str, Any]) -> Any:
        from ..models.text import build_text_model

        self.ensure_loaded()
        return build_text_model(self.spec, "qa", 2, int(config["num_layers"]), float(config.get("dropout", 0.1)),
                                vocab_size=len(self.tokenizer), max_length=self.max_length,
                                pad_token_id=self.tokenizer.pad_token_id or 0)

    def count_params(self, config: Dict[str, Any]) -> int:
        from ..models.text import count_text_params

        self.ensure_loaded()
        return count_text_params(self.spec, "qa", 2, int(config["num_layers"]), vocab_size=len(self.tokenizer),
                                 max_length=self.max_length, pad_token_id=self.tokenizer.pad_token_id or 0)

    def activation_bytes_per_sample(self, config: Dict[str, Any]) -> float:
        from ..models.text import text_activation_bytes

        self.ensure_loaded()
        return text_activation_bytes(self.spec, self.max_length, int(config["num_layers"]), 2)

    # -- training --------------------------------------------------------------------------------
    def train_batches(self, batch_size: int, generator: Any) -> Iterator[Any]:
        import torch

        self.ensure_loaded()
        feats = self.features["train"]
        n = len(feats["lengths"])
        batch_size = max(1, min(int(batch_size), n))
        while True:
            order = torch.randperm(n, generator=generator)
            for start in range(0, n - batch_size + 1, batch_size):
                yield _qa_batch(feats, order[start:start + batch_size])

    def _logits(self, model: Any, batch: Dict[str, Any]):
        inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        out = model(**inputs)
        return out.start_logits, out.end_logits

    def loss(self, model: Any, batch: Any) -> Any:
        import torch.nn.functional as F

        start_logits, end_logits = self._logits(model, batch)
        return (F.cross_entropy(start_logits, batch["start_positions"])
                + F.cross_entropy(end_logits, batch["end_positions"])) / 2

    def evaluate(self, model: Any, split: str) -> Dict[str, float]:
        import torch

        self.ensure_loaded()
        if split not in self.features:
            raise ValueError(f"task '{self.name}' has no split '{split}' (has: {', '.join(self.features)})")
        feats = self.features[split]
        device = next(model.parameters()).device
        order = torch.argsort(feats["lengths"])
        starts: List[Any] = [None] * len(order)
        ends: List[Any] = [None] * len(order)
        was_training = model.training
        model.eval()
        with torch.no_grad():
            for b in range(0, len(order), EVAL_BATCH):
                idx = order[b:b + EVAL_BATCH]
                batch = {k: v.to(device) for k, v in _qa_batch(feats, idx).items()}
                s_log, e_log = self._logits(model, batch)
                s_log, e_log = s_log.float().cpu().numpy(), e_log.float().cpu().numpy()
                for row, i in enumerate(idx.tolist()):
                    n = int(feats["lengths"][i])
                    starts[i], ends[i] = s_log[row, :n], e_log[row, :n]
        model.train(was_training)
        examples = self.examples[split]
        predictions = self.predict_answers(examples, feats, starts, ends)
        out = squad_evaluate({e.id: e.answers for e in examples}, predictions)
        out["n_rows"] = float(len(examples))
        return out

    def predict_answers(self, examples: List[QAExample], feats: Dict[str, Any], starts: List[Any],
                        ends: List[Any]) -> Dict[str, str]:
        """Question id → answer text ("" = no answer), from per-window start/end logits."""
        by_example: Dict[int, List[int]] = {}
        for f, ex_i in enumerate(feats["example_index"]):
            by_example.setdefault(int(ex_i), []).append(f)
        predictions = {}
        for ex_i, ex in enumerate(examples):
            best_score, best_text = -np.inf, ""
            null_score = np.inf
            for f in by_example.get(ex_i, []):
                s_log, e_log, offs = starts[f], ends[f], feats["offsets"][f]
                cls = feats["cls"][f]
                null_score = min(null_score, float(s_log[cls] + e_log[cls]))
                top_s = np.argsort(s_log)[::-1][:N_BEST]
                top_e = np.argsort(e_log)[::-1][:N_BEST]
                for si in top_s:
                    if offs[si] is None:
                        continue
                    for ei in top_e:
                        if offs[ei] is None or ei < si or ei - si + 1 > self.max_answer_length:
                            continue
                        score = float(s_log[si] + e_log[ei])
                        if score > best_score:
                            best_score, best_text = score, ex.context[offs[si][0]:offs[ei][1]]
            if self.version_2 and null_score > best_score:
                best_text = ""
            predictions[ex.id] = best_text
        return predictions


def _qa_batch(feats: Dict[str, Any], idx: Any) -> Dict[str, Any]:
    import torch

    lengths = feats["lengths"][idx]
    width = int(lengths.max())
    batch = {"input_ids": feats["input_ids"][idx, :width],
             "attention_mask": (torch.arange(width)[None, :] < lengths[:, None]).long(),
             "start_positions": feats["start_positions"][idx], "end_positions": feats["end_positions"][idx]}
    if "token_type_ids" in feats:
        batch["token_type_ids"] = feats["token_type_ids"][idx, :width]
    return batch


class SquadV2Task(QATask):
    """SQuAD 2.0: answerable and unanswerable questions (``rajpurkar/squad_v2`` or ``squad_v2/``)."""

    name = "squad_v2"
    version_2 = True
    source = SQUAD_V2


class SquadTask(QATask):
    """SQuAD 1.1: every question has an answer (``rajpurkar/squad``, or the ``squad/`` mirror folder,
    else the answerable questions of the ``squad_v2/`` mirror)."""

    name = "squad"
    version_2 = False
    source = SQUAD

    def read_examples(self) -> Dict[str, List[QAExample]]:
        root = resolve_data_dir(self.data_dir)
        if root and not mirror_files(SQUAD, root) and mirror_files(SQUAD_V2, root):
            loaded = load_splits(SQUAD_V2, root)
            self.data_note = "answerable questions of the squad_v2 mirror"
            return {split: [e for e in examples_from(ds) if e.answers] for split, ds in loaded.items()}
        return super().read_examples()
