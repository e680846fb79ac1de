"""Derived features: computed in the scikit-learn pipeline and inside the exported ONNX graph."""

import json

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("skl2onnx")

from hpo_agent.trainer.derived import DerivedFeatures, derived_weights, describe  # noqa: E402
from hpo_agent.trainer.learners import fit_learner  # noqa: E402
from test_metamodel_export import synthetic_histories  # noqa: E402

NAMES = ["log10_n_train", "log10_learning_rate", "log10_batch_size", "dropout"]


def test_weights_form_the_documented_differences():
    weights, names = derived_weights(NAMES)
    assert names == ["log10_batch_fraction", "log10_lr_per_example"]
    x = np.array([[3.0, -3.0, 1.5, 0.1]], dtype=np.float32)
    np.testing.assert_allclose(x @ weights, [[1.5 - 3.0, -3.0 - 1.5]])
    assert describe(names)["log10_batch_fraction"].startswith("log10_batch_size - log10_n_train")


def test_a_combination_whose_inputs_are_missing_is_left_out():
    weights, names = derived_weights(["log10_learning_rate", "log10_batch_size", "depth"])
    assert names == ["log10_lr_per_example"] and weights.shape == (3, 1)
    weights, names = derived_weights(["alpha", "width"])
    assert names == [] and weights.shape == (2, 0)


def test_transformer_appends_columns_and_checks_its_width():
    weights, _ = derived_weights(NAMES)
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    out = DerivedFeatures(weights).fit(x).transform(x)
    assert out.shape == (2, 6)
    np.testing.assert_array_equal(out[:, :4], x)
    with pytest.raises(ValueError, match="do not fit inputs with 3 features"):
        DerivedFeatures(weights).fit(x[:, :3])


def test_fit_learner_wraps_the_learner_only_where_features_allow():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4)).astype(np.float32)
    y = x[:, 1] - x[:, 2] + rng.normal(0, 0.01, 60)
    tasks = np.array(["a"] * 30 + ["b"] * 30)
    piped = fit_learner("gbm_balanced", x, y, tasks, feature_names=NAMES)
    assert [name for name, _ in piped.steps] == ["derive", "model"]
    assert piped.predict(x).shape == (60,)
    plain = fit_learner("gbm", x, y, tasks, feature_names=["a", "b", "c", "d"])
    assert not hasattr(plain, "steps")
    assert not hasattr(fit_learner("gbm", x, y, tasks), "steps")


def test_exported_graph_computes_them_and_says_so(tmp_path):
    import onnx

    from hpo_agent.agent.metamodel import METADATA_KEY
    from hpo_agent.export.onnx_export import export_onnx
    from hpo_agent.trainer.fit import fit_metamodel

    fitted = fit_metamodel(synthetic_histories(n_tasks=3, n_configs=30), learner="gbm_balanced", validate=False)
    result = export_onnx(fitted, tmp_path / "m.onnx")
    # onnxruntime on the plain input == the pipeline; these tasks (n_train 300, 600, 900) share
    # batch fractions, which broke parity before the derived values were rounded
    assert result.max_abs_diff <= 1e-4
    model = onnx.load(str(tmp_path / "m.onnx"))
    ops = {node.op_type for node in model.graph.node}
    assert {"MatMul", "Concat"} <= ops
    assert model.graph.input[0].type.tensor_type.shape.dim[1].dim_value == len(fitted.feature_names)
    meta = json.loads({p.key: p.value for p in model.metadata_props}[METADATA_KEY])
    assert set(meta["derived_features"]) == {"log10_batch_fraction", "log10_lr_per_example"}


def test_ratios_equal_in_exact_arithmetic_are_equal_after_rounding():
    # batch 16 of 300 examples and batch 32 of 600: the same share, one float32 bit apart before
    # rounding; a tree threshold between them would split onnxruntime from scikit-learn.
    weights, _ = derived_weights(NAMES)
    x = np.array([[np.log10(300), -3.0, np.log10(16), 0.0], [np.log10(600), -3.0, np.log10(32), 0.0]],
                 dtype=np.float32)
    out = DerivedFeatures(weights).fit(x).transform(x)
    assert out[0, 4] == out[1, 4]
