"""Text classification and regression tasks: ag_news, imdb, the GLUE configs (sst2, stsb, ...).

Data come from the hub or a local mirror (:mod:`.hub`); the model is a transformer encoder
(:mod:`hpo_agent.agent.models.text`): by default a small BERT built from config with a WordPiece
tokenizer trained on the training split, or a pretrained checkpoint (``model="minilm"``, a local
folder, or a hub id) with its own tokenizer. Texts are tokenised once at ``load()`` (truncated to
``max_length`` tokens) and batches are padded to their longest row.

Options of every text task: ``model`` (bert | distilbert | roberta | minilm | path or hub id),
``max_length``, ``hidden_size`` and ``vocab_size`` (models from config), ``max_validation`` and
``max_test`` (row caps that keep an evaluation to seconds on a CPU; defaults 500 and 1000).
"""

from __future__ import annotations

import abc

from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np

from ..errors import DataError, TaskOptionError
from ..metafeatures import TaskDescription
from ..models.text import family_of
from .base import Metric, Task
from .hub import HubSource, load_splits, plan_splits

MAX_VALIDATION = 500   # rows: a validation pass takes seconds on a 2-core CPU with the default model
MAX_TEST = 1000        # rows evaluated for the final report
DEFAULT_NUM_LAYERS = 6  # the depth at which describe() counts model_params (as the embedded tasks do)
EVAL_BATCH = 64


@dataclass
class TextData:
    texts: List[str]
    pairs: Optional[List[str]]
    labels: np.ndarray


def regression_metrics(pred: np.ndarray, target: np.ndarray) -> Dict[str, float]:
    """Mean squared error, Pearson and Spearman correlation."""
    pred = np.asarray(pred, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    mse = float(np.mean((pred - target) ** 2)) if len(target) else float("nan")
    return {"mse": mse, "rmse": float(np.sqrt(mse)), "pearson": _pearson(pred, target),
            "spearman": _pearson(_ranks(pred), _ranks(target)), "loss": mse}


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2 or np.std(a) == 0 or np.std(b) == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks with ties averaged (as Spearman's rho needs)."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.arange(len(x), dtype=np.float64)
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return sums[inverse] / counts[inverse]


class TextTask(Task):
    """A text task over (text[, text pair]) → label; subclasses say where the rows come from."""

    activation_model = "transformer"

    model_family = "bert"
    task_type = "classification"     # or "regression"
    default_max_length = 128

    def __init__(self, seed: int = 0, max_train: Optional[int] = None, data_dir: Optional[str] = None,
                 model: str = "bert", max_length: Optional[int] = None, hidden_size: int = 128,
                 vocab_size: int = 8000, max_validation: Optional[int] = MAX_VALIDATION,
                 max_test: Optional[int] = MAX_TEST, name: Optional[str] = None):
        super().__init__(seed, max_train, data_dir)
        if name:
            self.name = name
        self.model_name = str(model)
        self.max_length = int(max_length or self.default_max_length)
        if self.max_length < 8:
            raise TaskOptionError(f"max_length is {self.max_length}, but must be >= 8 tokens")
        self.hidden_size = int(hidden_size)
        self.vocab_size = int(vocab_size)
        self.max_validation = max_validation
        self.max_test = max_test
        self.metric = Metric("mse", "min") if self.task_type == "regression" else Metric("accuracy", "max")
        self.model_family = family_of(self.model_name)
        self.label_names: Optional[List[str]] = None
        self.n_classes = 1
        self.spec = None
        self.tokenizer = None
        self._enc: Dict[str, Dict[str, Any]] = {}

    # -- data ------------------------------------------------------------------------------------
    @abc.abstractmethod
    def read_splits(self) -> Dict[str, TextData]:
        """All rows of every available split, by source split name (train / validation / test)."""

    def load(self) -> None:
        from ..models import text as text_models

        raw = self.read_splits()
        classification = self.task_type == "classification"
        plan = plan_splits({s: d.labels for s, d in raw.items()}, self.seed, self.max_train,
                           self.max_validation, self.max_test, stratify=classification)
        self.data = {split: _take(raw[src], idx) for split, (src, idx) in plan.items()}
        if classification:
            if self.label_names is None:
                top = max(int(d.labels.max()) for d in self.data.values() if len(d.labels))
                self.label_names = [str(i) for i in range(top + 1)]
            self.n_classes = len(self.label_names)
        self.spec = text_models.resolve_text_model(self.model_name, self.hidden_size)
        train = self.data["train"]
        self.tokenizer = text_models.text_tokenizer(self.spec, train.texts + (train.pairs or []), self.vocab_size)
        self._token_types = text_models.uses_token_type_ids(self.spec)
        self.max_length = min(self.max_length, text_models.max_positions(self.spec))
        self._enc = {split: self._encode(d) for split, d in self.data.items()}

    def _encode(self, data: TextData, chunk: int = 2048) -> Dict[str, Any]:
        """Tokenise in chunks (the tokenizer's per-text objects are freed as it goes) into
        right-padded int64 tensors trimmed to the longest row."""
        import torch

        n = len(data.texts)
        pad = self.tokenizer.pad_token_id or 0
        ids = np.full((n, self.max_length), pad, dtype=np.int64)
        types = np.zeros((n, self.max_length), dtype=np.int64) if self._token_types else None
        lengths = np.zeros(n, dtype=np.int64)
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            enc = self.tokenizer(data.texts[start:stop], None if data.pairs is None else data.pairs[start:stop],
                                 truncation=True, max_length=self.max_length, padding=False,
                                 return_token_type_ids=self._token_types, return_attention_mask=False)
            for i, row in enumerate(enc["input_ids"]):
                ids[start + i, :len(row)] = row
                lengths[start + i] = len(row)
                if types is not None:
                    types[start + i, :len(row)] = enc["token_type_ids"][i]
            del enc
        width = max(1, int(lengths.max()) if n else 1)
        out = {"input_ids": torch.from_numpy(np.ascontiguousarray(ids[:, :width])),
               "lengths": torch.from_numpy(lengths), "labels": torch.as_tensor(data.labels)}
        if types is not None:
            out["token_type_ids"] = torch.from_numpy(np.ascontiguousarray(types[:, :width]))
        return out

    def class_counts(self) -> List[int]:
        if self.task_type != "classification":
            return []
        return np.bincount(self.data["train"].labels, minlength=self.n_classes).tolist()

    def describe(self) -> TaskDescription:
        self.ensure_loaded()
        lengths = self._enc["train"]["lengths"].double()
        return TaskDescription(
            name=self.name, modality="text", task_type=self.task_type,
            n_train=len(self.data["train"].labels), n_classes=self.n_classes if self.task_type == "classification" else 1,
            class_counts=self.class_counts(), input_size=float(lengths.mean()),
            model_family=self.model_family, pretrained=self.spec.pretrained,
            model_params=self.count_params({"num_layers": DEFAULT_NUM_LAYERS, "dropout": 0.1}),
            extra={"max_length": float(self.max_length), "n_validation": float(len(self.data["validation"].labels)),
                   "n_test": float(len(self.data["test"].labels)),
                   "truncated_fraction": float((lengths >= self.max_length).double().mean()),
                   "hidden_size": float(self.spec.hidden_size)})

    def default_num_layers(self) -> int:
        """The depth at which ``describe()`` counts parameters (6, or all layers of a smaller checkpoint)."""
        from ..models.text import effective_layers

        self.ensure_loaded()
        return effective_layers(self.spec, DEFAULT_NUM_LAYERS)

    def max_num_layers(self) -> Optional[int]:
        from ..models.text import max_layers

        self.ensure_loaded()
        return max_layers(self.spec)

    # -- model -----------------------------------------------------------------------------------
    def _num_labels(self) -> int:
        return self.n_classes if self.task_type == "classification" else 1

    def build_model(self, config: Dict[str, Any]) -> Any:
        from ..models.text import build_text_model

        self.ensure_loaded()
        return build_text_model(self.spec, "sequence", self._num_labels(), int(config["num_layers"]),
                                float(config.get("dropout", 0.1)), vocab_size=len(self.tokenizer),
                                max_length=self.max_length, pad_token_id=self.tokenizer.pad_token_id or 0)

    def count_params(self, config: Dict[str, Any]) -> int:
        from ..models.text import count_text_params

        self.ensure_loaded()
        return count_text_params(self.spec, "sequence", self._num_labels(), int(config["num_layers"]),
                                 vocab_size=len(self.tokenizer), max_length=self.max_length,
                                 pad_token_id=self.tokenizer.pad_token_id or 0)

    def activation_bytes_per_sample(self, config: Dict[str, Any]) -> float:
        from ..models.text import text_activation_bytes

        self.ensure_loaded()
        return text_activation_bytes(self.spec, self.max_length, int(config["num_layers"]), self._num_labels())

    # -- training --------------------------------------------------------------------------------
    def train_batches(self, batch_size: int, generator: Any) -> Iterator[Any]:
        import torch

        self.ensure_loaded()
        enc = self._enc["train"]
        n = len(enc["lengths"])
        batch_size = max(1, min(int(batch_size), n))
        while True:
            order = torch.randperm(n, generator=generator)
            for start in range(0, n - batch_size + 1, batch_size):
                yield _batch(enc, order[start:start + batch_size])

    def _logits(self, model: Any, batch: Dict[str, Any]) -> Any:
        inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        return model(**inputs).logits

    def loss(self, model: Any, batch: Any) -> Any:
        import torch.nn.functional as F

        logits = self._logits(model, batch)
        if self.task_type == "regression":
            return F.mse_loss(logits[:, 0], batch["labels"].float())
        return F.cross_entropy(logits, batch["labels"])

    def evaluate(self, model: Any, split: str) -> Dict[str, float]:
        import torch

        self.ensure_loaded()
        if split not in self._enc:
            raise ValueError(f"task '{self.name}' has no split '{split}' (has: {', '.join(self._enc)})")
        enc = self._enc[split]
        device = next(model.parameters()).device
        order = torch.argsort(enc["lengths"])  # similar lengths together: less padding
        was_training = model.training
        model.eval()
        outputs = []
        with torch.no_grad():
            for start in range(0, len(order), EVAL_BATCH):
                batch = _batch(enc, order[start:start + EVAL_BATCH])
                batch = {k: v.to(device) for k, v in batch.items()}
                outputs.append(self._logits(model, batch).float().cpu())
        model.train(was_training)
        logits = torch.empty((len(order), outputs[0].shape[1]))
        logits[order] = torch.cat(outputs)
        labels = enc["labels"]
        if self.task_type == "regression":
            out = regression_metrics(logits[:, 0].numpy(), labels.numpy())
        else:
            from ._tensor import classification_metrics

            out = classification_metrics(logits, labels.long(), self.n_classes)
        out["n_rows"] = float(len(labels))
        return out


def _take(data: TextData, idx: np.ndarray) -> TextData:
    return TextData([data.texts[i] for i in idx], None if data.pairs is None else [data.pairs[i] for i in idx],
                    data.labels[idx])


def _pad_encoding(enc: Any, pad_id: int, token_types: bool, labels: Any) -> Dict[str, Any]:
    """Token id lists → right-padded int64 tensors plus lengths."""
    import torch

    rows = enc["input_ids"]
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    width = int(lengths.max()) if len(rows) else 1
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    types = np.zeros((len(rows), width), dtype=np.int64) if token_types else None
    for i, row in enumerate(rows):
        ids[i, :len(row)] = row
        if types is not None:
            types[i, :len(row)] = enc["token_type_ids"][i]
    out = {"input_ids": torch.from_numpy(ids), "lengths": torch.from_numpy(lengths), "labels": labels}
    if types is not None:
        out["token_type_ids"] = torch.from_numpy(types)
    return out


def _batch(enc: Dict[str, Any], idx: Any) -> Dict[str, Any]:
    """Rows ``idx`` trimmed to their longest length, with the attention mask."""
    import torch

    lengths = enc["lengths"][idx]
    width = int(lengths.max())
    batch = {"input_ids": enc["input_ids"][idx, :width],
             "attention_mask": (torch.arange(width)[None, :] < lengths[:, None]).long(),
             "labels": enc["labels"][idx]}
    if "token_type_ids" in enc:
        batch["token_type_ids"] = enc["token_type_ids"][idx, :width]
    return batch


class HubTextTask(TextTask):
    """A text task whose rows come from a hub dataset (or its local mirror)."""

    source: HubSource = HubSource("")
    text_column = "text"
    pair_column: Optional[str] = None
    label_column = "label"
    split_names: Dict[str, str] = {}   # source split → train/validation/test (e.g. MNLI's *_matched)

    def read_splits(self) -> Dict[str, TextData]:
        loaded = load_splits(self.source, self.data_dir)
        out: Dict[str, TextData] = {}
        for src, ds in loaded.items():
            split = self.split_names.get(src, src)
            if split not in ("train", "validation", "test"):
                continue
            missing = [c for c in (self.text_column, self.pair_column, self.label_column) if c and c not in ds.column_names]
            if missing:
                raise DataError(f"{self.source.hub_id} split '{src}' lacks column(s) {missing}; it has {ds.column_names}")
            feature = ds.features.get(self.label_column)
            if self.label_names is None and getattr(feature, "names", None):
                self.label_names = list(feature.names)
            dtype = np.float32 if self.task_type == "regression" else np.int64
            out[split] = TextData(list(ds[self.text_column]),
                                  list(ds[self.pair_column]) if self.pair_column else None,
                                  np.asarray(list(ds[self.label_column]), dtype=dtype))
        return out


class AgNewsTask(HubTextTask):
    """AG News topic classification (4 classes: World, Sports, Business, Sci/Tech)."""

    name = "ag_news"
    source = HubSource("fancyzhx/ag_news", None, "ag_news", ("train", "test"))
    default_max_length = 128


class ImdbTask(HubTextTask):
    """IMDB movie-review sentiment (2 classes), long reviews truncated to ``max_length`` (256)."""

    name = "imdb"
    source = HubSource("stanfordnlp/imdb", None, "imdb", ("train", "test"))
    default_max_length = 256


# GLUE configs: (text column, pair column, task type, default max_length, split renames)
GLUE_CONFIGS: Dict[str, Tuple[str, Optional[str], str, int, Dict[str, str]]] = {
    "cola": ("sentence", None, "classification", 64, {}),
    "sst2": ("sentence", None, "classification", 64, {}),
    "mrpc": ("sentence1", "sentence2", "classification", 128, {}),
    "qqp": ("question1", "question2", "classification", 128, {}),
    "stsb": ("sentence1", "sentence2", "regression", 128, {}),
    "mnli": ("premise", "hypothesis", "classification", 128,
             {"validation_matched": "validation", "test_matched": "test"}),
    "qnli": ("question", "sentence", "classification", 128, {}),
    "rte": ("sentence1", "sentence2", "classification", 128, {}),
    "wnli": ("sentence1", "sentence2", "classification", 128, {}),
}


class GlueTask(HubTextTask):
    """One GLUE config from ``nyu-mll/glue`` (mirror folder: the config name, e.g. ``sst2/``).

    The hub's test splits carry no labels (-1): they are dropped, the validation split becomes the
    test split and a validation split is carved out of train. STS-B is a regression (metric MSE,
    direction min; Pearson and Spearman reported beside it).
    """

    def __init__(self, config: str = "sst2", name: Optional[str] = None, **kwargs):
        key = str(config).lower()
        if key not in GLUE_CONFIGS:
            raise TaskOptionError(f"unknown GLUE config '{config}'; known: {', '.join(GLUE_CONFIGS)}")
        text, pair, task_type, max_length, renames = GLUE_CONFIGS[key]
        self.glue_config = key
        self.text_column, self.pair_column, self.task_type = text, pair, task_type
        self.default_max_length = max_length
        self.split_names = renames
        splits = tuple(renames) + ("train",) if renames else ("train", "validation", "test")
        self.source = HubSource("nyu-mll/glue", key, key, splits)
        super().__init__(name=name or f"glue_{key}", **kwargs)
