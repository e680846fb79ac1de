"""Derived features: fixed linear combinations of the meta-model's inputs that trees cannot form.

A tree splits on one feature at a time, so a relation between two inputs that holds along a
diagonal (the best batch size grows with the training set; the best learning rate grows with the
batch size) costs it a staircase of splits per task, which a few dozen configs per task do not
pay for. Two such relations are textbook deep-learning heuristics, and the meta-model gets each
as one more column:

- ``log10_batch_fraction`` = log10 batch size − log10 training examples: the share of the
  training set one step sees (1 / steps per epoch).
- ``log10_lr_per_example`` = log10 learning rate − log10 batch size: the linear scaling rule
  (Goyal et al., 2017) keeps this ratio constant as the batch grows.

Both are computed inside the estimator (:class:`DerivedFeatures`, the first step of a
scikit-learn pipeline) and inside the exported ONNX graph (``MatMul``, the rounding to
:data:`DECIMALS` as ``Mul``/``Round``/``Div``, and ``Concat``; :func:`register_onnx_converter`),
so the device's input is unchanged: the task's meta-features and the encoded config, in the order
the file's metadata names. Spaces or meta-features that lack
a combination's inputs (imported histories with their own) simply go without it.
"""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

# name → ({input feature: coefficient}, why); an input missing from the features drops the entry.
DERIVED: Dict[str, Tuple[Dict[str, float], str]] = {
    "log10_batch_fraction": ({"log10_batch_size": 1.0, "log10_n_train": -1.0},
                             "share of the training set one step sees"),
    "log10_lr_per_example": ({"log10_learning_rate": 1.0, "log10_batch_size": -1.0},
                             "learning rate over batch size (the linear scaling rule)"),
}


def derived_weights(feature_names: Sequence[str]) -> Tuple[np.ndarray, List[str]]:
    """The (n_features × n_derived) matrix whose product with a feature row gives the derived
    columns that ``feature_names`` support, and those columns' names."""
    index = {name: i for i, name in enumerate(feature_names)}
    names = [n for n, (terms, _) in DERIVED.items() if all(t in index for t in terms)]
    weights = np.zeros((len(feature_names), len(names)), dtype=np.float32)
    for j, name in enumerate(names):
        for term, coef in DERIVED[name][0].items():
            weights[index[term], j] = coef
    return weights, names


def describe(names: Sequence[str]) -> Dict[str, str]:
    """``{name: "x - y: why"}`` for the metadata of an exported file."""
    def formula(terms: Dict[str, float]) -> str:
        text = ""
        for term, coef in terms.items():
            sign = "-" if coef < 0 else "+"
            scaled = term if abs(coef) == 1 else f"{abs(coef):g}*{term}"
            text = (f"-{scaled}" if sign == "-" else scaled) if not text else f"{text} {sign} {scaled}"
        return text

    return {n: f"{formula(DERIVED[n][0])}: {DERIVED[n][1]}" for n in names}


# Derived values are rounded to this many decimals (of log10 units: 0.02 %). Without it, two
# settings whose ratios are equal in exact arithmetic (batch 16 of 300 examples, batch 32 of 600)
# differ in the last float32 bit, and a tree threshold between two adjacent float32 values cannot
# be stored in float32, so onnxruntime and scikit-learn would send such rows down different branches.
DECIMALS = 4


class DerivedFeatures(TransformerMixin, BaseEstimator):
    """Appends ``round(X @ weights, decimals)`` to ``X`` (a pipeline step; nothing is learned
    from the data). Every operation is a float32 one that ONNX repeats bit for bit."""

    def __init__(self, weights=None, names=(), decimals=DECIMALS):
        self.weights = weights
        self.names = names
        self.decimals = decimals

    def fit(self, x, y=None, **_):
        self.weights_ = np.asarray(self.weights, dtype=np.float32)
        if self.weights_.ndim != 2 or self.weights_.shape[0] != np.shape(x)[1]:
            raise ValueError(f"weights of shape {self.weights_.shape} do not fit inputs with {np.shape(x)[1]} features")
        return self

    def transform(self, x):
        x = np.asarray(x, dtype=np.float32)
        scale = np.float32(10.0 ** self.decimals)
        return np.hstack([x, np.round((x @ self.weights_) * scale) / scale])


def register_onnx_converter() -> None:
    """Teach skl2onnx to convert :class:`DerivedFeatures` (idempotent)."""
    from skl2onnx import update_registered_converter
    from skl2onnx.common.data_types import FloatTensorType

    def shape(operator):
        n = operator.inputs[0].get_first_dimension()
        width = operator.raw_operator.weights_.shape
        operator.outputs[0].type = FloatTensorType([n, width[0] + width[1]])

    def convert(scope, operator, container):
        from onnx import TensorProto

        op = operator.raw_operator
        w, x = op.weights_, operator.inputs[0].full_name

        def constant(stem: str, shape: list, values: list) -> str:
            name = scope.get_unique_variable_name(stem)
            container.add_initializer(name, TensorProto.FLOAT, shape, values)
            return name

        def node(kind: str, inputs: list, **attrs) -> str:
            out = scope.get_unique_variable_name(f"derived_{kind.lower()}")
            container.add_node(kind, inputs, out, name=scope.get_unique_operator_name(kind), **attrs)
            return out

        scale = constant("derived_scale", [], [float(np.float32(10.0 ** op.decimals))])
        product = node("MatMul", [x, constant("derived_weights", list(w.shape), w.astype(np.float32).ravel().tolist())])
        rounded = node("Div", [node("Round", [node("Mul", [product, scale])]), scale])
        container.add_node("Concat", [x, rounded], operator.outputs[0].full_name,
                           name=scope.get_unique_operator_name("Concat"), axis=1)

    update_registered_converter(DerivedFeatures, "HpoAgentDerivedFeatures", shape, convert)
