"""Turning a fitted meta-model into a self-describing ONNX file, and checking parity.

The file's metadata (key ``hpo_agent``) holds a JSON document with the schema version, feature
names and order, the search space, the target, provenance and validation scores, so the device
needs nothing but the file. Opsets are conservative (ONNX 15, ai.onnx.ml 3) so that the CPU
provider of older onnxruntime builds found on Jetsons (1.19 on JetPack 5) can run it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict

import numpy as np

from ..agent import metafeatures
from ..agent.metamodel import METADATA_KEY, METAMODEL_SCHEMA_VERSION
from ..trainer.fit import FittedMetaModel
from ..trainer.learners import one_thread

TARGET_OPSET = {"": 15, "ai.onnx.ml": 3}
DEFAULT_TOLERANCE = 1e-4
INPUT_NAME = "features"


class ParityError(RuntimeError):
    """The ONNX file does not reproduce scikit-learn's predictions within tolerance."""


@dataclass
class ExportResult:
    path: Path
    max_abs_diff: float
    parity_rows: int
    size_bytes: int
    tolerance: float


def metadata(fitted: FittedMetaModel, parity: Dict[str, Any]) -> Dict[str, Any]:
    """The self-describing document stored in the ONNX file."""
    return {
        "schema_version": METAMODEL_SCHEMA_VERSION,
        "meta_feature_version": (metafeatures.META_FEATURE_VERSION
                                 if list(fitted.meta_feature_names) == metafeatures.feature_names() else "custom"),
        "input_name": INPUT_NAME,
        "feature_names": list(fitted.feature_names),
        "meta_feature_names": list(fitted.meta_feature_names),
        # Computed inside the graph from ``feature_names``; the device passes only those.
        "derived_features": derived_features(fitted.estimator),
        "search_space": fitted.space.to_dict(),
        "target": fitted.target,
        "learner": fitted.learner,
        "provenance": fitted.provenance,
        "validation": fitted.validation,
        "parity": parity,
        # More outputs over the same input, by name (output 0 is always the score above).
        "outputs": {name: {"output": name, "target": aux.target, "learner": aux.learner,
                           "validation": aux.validation} for name, aux in getattr(fitted, "aux", {}).items()},
    }


def derived_features(estimator) -> Dict[str, str]:
    """``{name: definition}`` of the columns the estimator appends to its input (:mod:`..trainer.derived`)."""
    from ..trainer.derived import describe

    steps = dict(getattr(estimator, "steps", ()))
    return describe(steps["derive"].names) if "derive" in steps else {}


def to_onnx(fitted: FittedMetaModel):
    """The skl2onnx graph (float32 input ``features`` of shape [None, n_features])."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    from ..trainer.derived import register_onnx_converter

    register_onnx_converter()
    n = len(fitted.feature_names)
    types = [(INPUT_NAME, FloatTensorType([None, n]))]
    model = convert_sklearn(fitted.estimator, initial_types=types, target_opset=TARGET_OPSET)
    for name, aux in getattr(fitted, "aux", {}).items():
        _append_output(model, convert_sklearn(aux.estimator, initial_types=types, target_opset=TARGET_OPSET), name)
    return model


def _append_output(model, other, name: str) -> None:
    """Graft ``other``'s graph (same input) onto ``model`` as one more output called ``name``.

    Every edge, initializer and node of ``other`` except the shared input is prefixed, so nothing
    collides; its single output is renamed ``name``.
    """
    g, h = model.graph, other.graph
    (out,) = [o.name for o in h.output]
    rename = {out: name}
    for init in h.initializer:
        rename.setdefault(init.name, f"{name}__{init.name}")
    for node in h.node:
        for edge in list(node.input) + list(node.output):
            if edge and edge != INPUT_NAME:
                rename.setdefault(edge, f"{name}__{edge}")
    for init in h.initializer:
        init.name = rename[init.name]
        g.initializer.append(init)
    for node in h.node:
        node.name = f"{name}__{node.name}"
        node.input[:] = [rename.get(e, e) for e in node.input]
        node.output[:] = [rename.get(e, e) for e in node.output]
        g.node.append(node)
    output = h.output[0]
    output.name = name
    g.output.append(output)
    domains = {o.domain for o in model.opset_import}
    for op in other.opset_import:
        if op.domain not in domains:
            model.opset_import.append(op)


def parity(onnx_bytes: bytes, fitted: FittedMetaModel) -> float:
    """Max absolute difference between onnxruntime and scikit-learn on the held-out rows."""
    import onnxruntime as ort

    x = np.asarray(fitted.holdout_x, dtype=np.float32)
    if len(x) == 0:
        raise ParityError("the fitted meta-model carries no held-out rows to check parity on")
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    outputs = session.run(None, {INPUT_NAME: x})
    names = [o.name for o in session.get_outputs()]
    pairs = [(outputs[0], fitted.estimator)]
    pairs += [(outputs[names.index(name)], aux.estimator) for name, aux in getattr(fitted, "aux", {}).items()]
    worst = 0.0
    with one_thread():
        for got, estimator in pairs:
            want = np.asarray(estimator.predict(x), dtype=np.float64).reshape(-1)
            worst = max(worst, float(np.max(np.abs(np.asarray(got, dtype=np.float64).reshape(-1) - want))))
    return worst


def export_onnx(fitted: FittedMetaModel, path: Path, tolerance: float = DEFAULT_TOLERANCE) -> ExportResult:
    """Convert, check parity (raise :class:`ParityError` over ``tolerance``), embed metadata, write."""
    model = to_onnx(fitted)
    diff = parity(model.SerializeToString(), fitted)
    if not diff <= tolerance:
        raise ParityError(f"ONNX and scikit-learn predictions differ by up to {diff:.3g} on "
                          f"{len(fitted.holdout_x)} held-out rows, over the tolerance {tolerance:g}")
    prop = model.metadata_props.add()
    prop.key = METADATA_KEY
    prop.value = json.dumps(metadata(fitted, {"max_abs_diff": diff, "rows": int(len(fitted.holdout_x)),
                                              "tolerance": tolerance}), sort_keys=True, default=str)
    model.producer_name = "hpo-agent"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = model.SerializeToString()
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return ExportResult(path, diff, int(len(fitted.holdout_x)), len(data), tolerance)
