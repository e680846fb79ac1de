"""Search spaces declared as data, and the one encoding of configs that both sides share.

A :class:`SearchSpace` is a list of :class:`Param` records (name, type, range or choices, log
scale, optional grid values). It mirrors Optuna's distributions so that the workstation can hand
it to Optuna samplers unchanged, but it needs only numpy so that the device can use it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np

PARAM_TYPES = ("float", "int", "categorical")
Config = Dict[str, Any]


@dataclass(frozen=True)
class Param:
    """One hyperparameter.

    ``low``/``high`` bound float and int params (inclusive), ``log`` samples and encodes them on a
    log scale, ``choices`` lists a categorical's values, ``grid`` lists the values a grid design
    visits (defaults: the choices, or low/mid/high).
    """

    name: str
    type: str
    low: Optional[float] = None
    high: Optional[float] = None
    log: bool = False
    choices: Optional[tuple] = None
    grid: Optional[tuple] = None

    def __post_init__(self) -> None:
        if self.type not in PARAM_TYPES:
            raise ValueError(f"param '{self.name}' has type '{self.type}', but must be one of {', '.join(PARAM_TYPES)}")
        if self.type == "categorical":
            if not self.choices:
                raise ValueError(f"categorical param '{self.name}' needs a non-empty 'choices' list")
            object.__setattr__(self, "choices", tuple(self.choices))
        else:
            if self.low is None or self.high is None:
                raise ValueError(f"{self.type} param '{self.name}' needs 'low' and 'high'")
            if not self.low <= self.high:
                raise ValueError(f"param '{self.name}' has low={self.low} > high={self.high}")
            if self.log and self.low <= 0:
                raise ValueError(f"param '{self.name}' is log-scaled, so low must be > 0 (got {self.low})")
        if self.grid is not None:
            object.__setattr__(self, "grid", tuple(self.grid))
            for value in self.grid:
                self.validate(value)

    # -- values ---------------------------------------------------------------------------
    def validate(self, value: Any) -> Any:
        """Return ``value`` coerced to this param's type, or raise ``ValueError`` naming the rule."""
        if self.type == "categorical":
            if value not in self.choices:
                raise ValueError(f"{self.name}={value!r} is not one of {list(self.choices)}")
            return value
        number = float(value)
        if self.type == "int":
            if number != int(number):
                raise ValueError(f"{self.name}={value!r} must be an integer")
            number = int(number)
        if not self.low <= number <= self.high:
            raise ValueError(f"{self.name}={value!r} is outside [{self.low:g}, {self.high:g}]")
        return number

    def sample(self, rng: np.random.Generator, n: int) -> list:
        """Draw ``n`` values uniformly (log-uniformly when ``log``)."""
        if self.type == "categorical":
            idx = rng.integers(0, len(self.choices), size=n)
            return [self.choices[i] for i in idx]
        lo, hi = (math.log(self.low), math.log(self.high)) if self.log else (self.low, self.high)
        if self.type == "int":
            # Sample on the continuous scale, then round: keeps log-uniformity for ints.
            lo, hi = (math.log(self.low - 0.4999), math.log(self.high + 0.4999)) if self.log else (self.low - 0.4999, self.high + 0.4999)
        raw = rng.uniform(lo, hi, size=n)
        values = np.exp(raw) if self.log else raw
        if self.type == "int":  # np.rint rounds half to even, as round() does
            return np.clip(np.rint(values), self.low, self.high).astype(np.int64).tolist()
        return values.tolist()

    def grid_values(self) -> tuple:
        if self.grid is not None:
            return self.grid
        if self.type == "categorical":
            return self.choices
        if self.log:
            mid = math.sqrt(self.low * self.high)
        else:
            mid = (self.low + self.high) / 2
        mid = int(round(mid)) if self.type == "int" else mid
        return tuple(dict.fromkeys((self.low if self.type == "float" else int(self.low), mid,
                                    self.high if self.type == "float" else int(self.high))))

    # -- encoding --------------------------------------------------------------------------
    def feature_names(self) -> List[str]:
        if self.type == "categorical":
            return [f"{self.name}={c}" for c in self.choices]
        return [f"log10_{self.name}" if self.log else self.name]

    def encode(self, value: Any) -> List[float]:
        if self.type == "categorical":
            return [1.0 if value == c else 0.0 for c in self.choices]
        return [math.log10(float(value)) if self.log else float(value)]

    def to_dict(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if v is not None and v is not False}
        for key in ("choices", "grid"):
            if key in out:
                out[key] = list(out[key])
        return out


@dataclass(frozen=True)
class SearchSpace:
    """An ordered set of :class:`Param`; its order fixes the meta-model's config features."""

    params: tuple = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", tuple(self.params))
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"search space has duplicate param names: {names}")
        if not names:
            raise ValueError("search space is empty; declare at least one param")

    @property
    def names(self) -> List[str]:
        return [p.name for p in self.params]

    def __getitem__(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"no param '{name}' in the search space (has: {', '.join(self.names)})")

    def validate(self, config: Config) -> Config:
        """Coerce a config to the space, raising ``ValueError`` on missing, extra or bad values."""
        missing = [n for n in self.names if n not in config]
        extra = [n for n in config if n not in self.names]
        if missing or extra:
            raise ValueError(f"config does not match the search space: missing {missing}, unexpected {extra}")
        return {p.name: p.validate(config[p.name]) for p in self.params}

    def sample(self, rng: np.random.Generator, n: int) -> List[Config]:
        """``n`` random configs (independent uniform / log-uniform draws per param)."""
        columns = [p.sample(rng, n) for p in self.params]
        names = self.names
        return [dict(zip(names, row)) for row in zip(*columns)]

    def grid(self) -> List[Config]:
        """The full Cartesian grid of each param's grid values, in natural (row-major) order."""
        configs: List[Config] = [{}]
        for p in self.params:
            configs = [dict(c, **{p.name: v}) for c in configs for v in p.grid_values()]
        return configs

    def feature_names(self) -> List[str]:
        return [name for p in self.params for name in p.feature_names()]

    def encode(self, configs: Iterable[Config]) -> np.ndarray:
        """Encode configs into a float32 matrix, one row each, columns as :meth:`feature_names`."""
        configs = list(configs)
        # Column by column: 10,000 candidates encode in milliseconds on the device's query path.
        columns = []
        for p in self.params:
            values = [c[p.name] for c in configs]
            if p.type == "categorical":
                arr = np.empty(len(values), dtype=object)
                arr[:] = values
                columns.extend((arr == choice).astype(np.float32) for choice in p.choices)
            else:
                col = np.asarray(values, dtype=np.float64)
                columns.append((np.log10(col) if p.log else col).astype(np.float32))
        if not columns or not configs:
            return np.zeros((len(configs), len(self.feature_names())), dtype=np.float32)
        return np.stack(columns, axis=1)

    def to_dict(self) -> dict:
        return {"params": [p.to_dict() for p in self.params]}

    @classmethod
    def from_dict(cls, data: dict) -> "SearchSpace":
        params = data.get("params") if isinstance(data, dict) else data
        if not isinstance(params, list):
            raise ValueError("search space must be a list of params or {'params': [...]}")
        return cls(tuple(Param(**p) for p in params))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def default_space() -> SearchSpace:
    """The seed plan's space: learning rate, batch size, layers, dropout, optimizer, weight decay.

    Ranges are wider than the plan's grid so that sampled candidates can leave it; ``grid`` keeps
    the plan's three values per param (3^6 = 729 configs) for grid designs and baselines.
    """
    return SearchSpace((
        Param("learning_rate", "float", 1e-5, 1e-1, log=True, grid=(1e-3, 5e-4, 1e-4)),
        Param("batch_size", "int", 8, 128, log=True, grid=(16, 32, 64)),
        Param("num_layers", "int", 1, 24, grid=(6, 12, 24)),
        Param("dropout", "float", 0.0, 0.5, grid=(0.1, 0.3, 0.5)),
        Param("optimizer", "categorical", choices=("adam", "sgd", "rmsprop")),
        Param("weight_decay", "float", 0.0, 0.1, grid=(0.0, 0.01, 0.1)),
    ))


def plain_value(value: Any) -> Any:
    """A numpy scalar as its Python value (configs read from tables must serialise to JSON and
    compare equal to Optuna's distribution choices); anything else unchanged."""
    return value.item() if isinstance(value, np.generic) else value


def config_key(config: Config, names: Optional[Sequence[str]] = None) -> str:
    """A stable text key for a config (used to de-duplicate trials)."""
    names = names or sorted(config)
    parts = []
    for n in names:
        v = config[n]
        parts.append(f"{n}={v:.6g}" if isinstance(v, float) else f"{n}={v}")
    return ",".join(parts)
