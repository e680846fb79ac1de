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
from ..trainer.fit import FittedMetaModel, one_thread

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
        "search_space": fitted.space.to_dict(),
        "target": fitted.target,
        "learner": fitted.learner,
        "provenance": fitted.provenance,
        "validation": fitted.validation,
        "parity": parity,
    }


def to_onnx(fitted: FittedMetaModel):
    """The skl2onnx graph (float32 input ``features`` of shape [None, n_features])."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    n = len(fitted.feature_names)
    return convert_sklearn(fitted.estimator, initial_types=[(INPUT_NAME, FloatTensorType([None, n]))],
                           target_opset=TARGET_OPSET)


def parity(onnx_bytes: bytes, fitted: FittedMetaModel) -> float:
    """Max absolute difference between onnxruntime and scikit-learn on the held-out rows."""
    import onnxruntime as ort

    x = np.asarray(fitted.holdout_x, dtype=np.float32)
    if len(x) == 0:
        raise ParityError("the fitted meta-model carries no held-out rows to check parity on")
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    got = session.run(None, {INPUT_NAME: x})[0].reshape(-1)
    with one_thread():
        want = np.asarray(fitted.estimator.predict(x), dtype=np.float64).reshape(-1)
    return float(np.max(np.abs(got.astype(np.float64) - want)))


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
