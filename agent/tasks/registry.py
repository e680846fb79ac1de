"""The task registry: names users type after ``--task`` → task factories."""

from __future__ import annotations

from typing import Callable, Dict, List, Optional

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
    """Build the task called ``name``; unknown names raise ``ValueError`` listing the known ones."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown task '{name}'; known tasks: {', '.join(task_names())}")
    return _REGISTRY[name](seed=seed, max_train=max_train, **options)


def _register_builtins() -> None:
    from .digits import DigitsTask, SklearnTableTask

    register("digits", DigitsTask, "scikit-learn's 8×8 digits (1,797 images, 10 classes), small residual CNN [embedded]")
    register("digits_x2", lambda **kw: DigitsTask(scale=2, name="digits_x2", **kw),
             "digits upsampled to 16×16 (variant) [embedded]")
    for table, text in (("breast_cancer", "569 rows, 30 features, 2 classes"),
                        ("wine", "178 rows, 13 features, 3 classes"),
                        ("iris", "150 rows, 4 features, 3 classes")):
        register(table, lambda table=table, **kw: SklearnTableTask(table, **kw), f"scikit-learn table: {text}, MLP [embedded]")


_register_builtins()
