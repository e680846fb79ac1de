"""The history store: Optuna's storage API (SQLite file by default, any SQLAlchemy URL).

One study per (task, model family, device class). Each trial carries the config as params,
the validation metric at each fidelity as intermediate values (step = training steps), and
user attributes: meta-features, task description, cost, peak memory, device, outcome, versions.
Optuna's dashboard, samplers and distributed workers therefore work on it with no glue.
"""

from __future__ import annotations

from typing import Any, Dict

import optuna

from ..agent.space import Param, SearchSpace

STUDY_SEP = "|"


def storage_url(path_or_url: str) -> str:
    """Accept a plain file path (→ SQLite) or any SQLAlchemy URL."""
    return path_or_url if "://" in path_or_url else f"sqlite:///{path_or_url}"


def open_storage(path_or_url: str) -> optuna.storages.BaseStorage:
    """An RDB storage (SQLite file or any SQLAlchemy URL)."""
    url = storage_url(path_or_url)
    kwargs: Dict[str, Any] = {}
    if url.startswith("sqlite"):
        # Several worker processes on one SQLite file: wait for the lock instead of failing.
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
    return optuna.storages.RDBStorage(url, **kwargs)


def study_name(task: str, family: str, device_class: str) -> str:
    return STUDY_SEP.join((task, family, device_class))


def parse_study_name(name: str) -> Dict[str, str]:
    parts = name.split(STUDY_SEP)
    if len(parts) != 3:
        return {"task": name, "model_family": "", "device_class": ""}
    return dict(zip(("task", "model_family", "device_class"), parts))


def distribution(param: Param) -> optuna.distributions.BaseDistribution:
    """The Optuna distribution of a :class:`Param`."""
    if param.type == "categorical":
        return optuna.distributions.CategoricalDistribution(list(param.choices))
    if param.type == "int":
        return optuna.distributions.IntDistribution(int(param.low), int(param.high), log=param.log)
    return optuna.distributions.FloatDistribution(float(param.low), float(param.high), log=param.log)


def distributions(space: SearchSpace) -> Dict[str, optuna.distributions.BaseDistribution]:
    return {p.name: distribution(p) for p in space.params}


def suggest(trial: optuna.Trial, space: SearchSpace) -> Dict[str, Any]:
    """Ask the trial for every param (fixed values come back for enqueued trials)."""
    config = {}
    for p in space.params:
        if p.type == "categorical":
            config[p.name] = trial.suggest_categorical(p.name, list(p.choices))
        elif p.type == "int":
            config[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log)
        else:
            config[p.name] = trial.suggest_float(p.name, float(p.low), float(p.high), log=p.log)
    return config
