"""The device's meta-model runtime: an ONNX file read with onnxruntime and numpy only.

The file is self-describing: its metadata (key ``hpo_agent``, a JSON document) carries the
schema version, the input feature names and order, the search space, the target's definition,
training provenance and validation scores. A file whose schema this version does not know is
refused with a message that says what to do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from . import metafeatures
from .space import SearchSpace

METAMODEL_SCHEMA_VERSION = 1
METADATA_KEY = "hpo_agent"
CUSTOM_META_FEATURES = "custom"  # meta_feature_version of models fitted on imported meta-features
DEFAULT_MODEL = Path(__file__).parent / "data" / "default_metamodel.onnx"


class MetaModelError(RuntimeError):
    """A meta-model file that cannot be used; the message says why and what to do."""


class MetaModel:
    """Scores configs for a task: ``predict(meta_features, configs) -> np.ndarray`` (higher is better)."""

    def __init__(self, session: Any, meta: Dict[str, Any], path: Optional[Path] = None):
        self.session = session
        self.meta = meta
        self.path = path
        self.space = SearchSpace.from_dict(meta["search_space"])
        self.meta_feature_names: List[str] = list(meta["meta_feature_names"])
        self.feature_names: List[str] = list(meta["feature_names"])
        self.input_name = session.get_inputs()[0].name
        expected = self.meta_feature_names + self.space.feature_names()
        if expected != self.feature_names:
            raise MetaModelError(f"{path}: feature_names in the metadata do not match meta-features + search space")

    @classmethod
    def load(cls, path: Optional[Path] = None) -> "MetaModel":
        """Load an ONNX meta-model (the packaged default when ``path`` is None)."""
        import onnxruntime as ort

        path = Path(path) if path is not None else DEFAULT_MODEL
        if not path.is_file():
            hint = " (the packaged default is missing: rebuild it with `python -m hpo_agent.trainer.build_default`)" \
                if path == DEFAULT_MODEL else ""
            if path.exists():
                raise MetaModelError(f"{path} is {'a folder' if path.is_dir() else 'not a regular file'}; "
                                     "give the meta-model's .onnx file")
            raise MetaModelError(f"meta-model file not found: {path}{hint}")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        # Querying happens before any trial trains, so the cores are free: onnxruntime's default
        # (one thread per core) scores 10,000 candidates ~1.7x faster than one thread on 2 cores.
        # Small batches stay on one thread inside onnxruntime anyway.
        try:
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf types
            raise MetaModelError(f"{path} is not a readable ONNX model ({type(exc).__name__}); "
                                 "export one with `hpo-agent export`") from None
        raw = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        if raw is None:
            raise MetaModelError(f"{path} is an ONNX model but not an hpo-agent meta-model (no '{METADATA_KEY}' "
                                 "metadata); export one with `hpo-agent export`")
        try:
            meta = json.loads(raw)
        except json.JSONDecodeError:
            raise MetaModelError(f"{path}: the '{METADATA_KEY}' metadata is not valid JSON") from None
        version = meta.get("schema_version")
        if version != METAMODEL_SCHEMA_VERSION:
            raise MetaModelError(
                f"{path} has meta-model schema {version}, but this hpo-agent reads schema "
                f"{METAMODEL_SCHEMA_VERSION}; re-export it with this version's `hpo-agent export`, "
                "or install the hpo-agent version that wrote it")
        mf_version = meta.get("meta_feature_version")
        # "custom": fitted on an imported table's own meta-features, which the caller supplies by
        # name (``meta_feature_names``); this version's built-in features do not apply to it.
        if mf_version != metafeatures.META_FEATURE_VERSION and mf_version != CUSTOM_META_FEATURES:
            raise MetaModelError(f"{path} was trained on meta-features v{mf_version}, this hpo-agent computes "
                                 f"v{metafeatures.META_FEATURE_VERSION}; refit and re-export it")
        return cls(session, meta, path)

    def features(self, task_features: Dict[str, float], configs: Sequence[Dict[str, Any]]) -> np.ndarray:
        """The float32 input matrix: task meta-features repeated, then each encoded config."""
        task_row = np.asarray(metafeatures.vector(task_features, self.meta_feature_names), dtype=np.float32)
        encoded = self.space.encode(configs)
        return np.hstack([np.repeat(task_row[None, :], len(configs), axis=0), encoded]).astype(np.float32)

    def predict(self, task_features: Dict[str, float], configs: Sequence[Dict[str, Any]]) -> np.ndarray:
        """Predicted normalised score per config (see the metadata's ``target``)."""
        if not len(configs):
            return np.zeros(0, dtype=np.float32)
        return self.predict_matrix(self.features(task_features, configs))

    def predict_matrix(self, x: np.ndarray) -> np.ndarray:
        # Only the score is fetched, though onnxruntime still evaluates every output's graph
        # (measured): why the cost model is kept small (trainer/cost.py).
        name = self.session.get_outputs()[0].name
        out = self.session.run([name], {self.input_name: np.asarray(x, dtype=np.float32)})[0]
        return np.asarray(out, dtype=np.float32).reshape(-1)

    def has_output(self, name: str) -> bool:
        """Whether the file carries the named extra output (``"cost"``, ``"memory"``; older files have none)."""
        return name in (self.meta.get("outputs") or {}) and name in [o.name for o in self.session.get_outputs()]

    def predict_output(self, name: str, task_features: Dict[str, float],
                       configs: Sequence[Dict[str, Any]]) -> Optional[np.ndarray]:
        """The named extra output per config, as stored (float64), or None when the file lacks it."""
        if not self.has_output(name):
            return None
        if not len(configs):
            return np.zeros(0, dtype=np.float64)
        out = self.session.run([name], {self.input_name: self.features(task_features, configs)})[0]
        return np.asarray(out, dtype=np.float64).reshape(-1)

    def predict_cost(self, task_features: Dict[str, float], configs: Sequence[Dict[str, Any]]) -> Optional[np.ndarray]:
        """Predicted training seconds per fidelity unit per config (see ``meta['outputs']['cost']``),
        or None when the file has no cost model."""
        out = self.predict_output("cost", task_features, configs)
        return None if out is None else np.power(10.0, out)

    def predict_memory_ratio(self, task_features: Dict[str, float],
                             configs: Sequence[Dict[str, Any]]) -> Optional[np.ndarray]:
        """Predicted measured / analytic training working set per config (see
        ``meta['outputs']['memory']``), or None when the file has no memory model."""
        out = self.predict_output("memory", task_features, configs)
        return None if out is None else np.power(10.0, out)

    def describe(self) -> Dict[str, Any]:
        """A short summary for reports: path, schema, target, provenance and validation."""
        return {
            "path": str(self.path),
            "schema_version": self.meta.get("schema_version"),
            "target": self.meta.get("target"),
            "learner": self.meta.get("learner"),
            "provenance": self.meta.get("provenance"),
            "validation": self.meta.get("validation"),
            "outputs": {k: {"target": v.get("target"), "validation": {m: w for m, w in (v.get("validation") or {}).items()
                                                                       if m != "per_task"}}
                        for k, v in (self.meta.get("outputs") or {}).items()},
        }
