"""Fit → export → load round trips on synthetic histories (real scikit-learn, skl2onnx, onnxruntime)."""

import json

import numpy as np
import pytest

from hpo_agent.agent import metafeatures
from hpo_agent.agent.metafeatures import TaskDescription
from hpo_agent.agent.metamodel import MetaModel, MetaModelError
from hpo_agent.agent.space import default_space

pd = pytest.importorskip("pandas")
pytest.importorskip("skl2onnx")

from hpo_agent.export import ParityError, export_onnx, metadata  # noqa: E402
from hpo_agent.trainer.fit import build_dataset, fit_metamodel, task_percentile_rank  # noqa: E402
from hpo_agent.trainer.regret import best_of_k_regret  # noqa: E402


def synthetic_histories(n_tasks=3, n_configs=40, seed=0):
    """Tasks whose best learning rate depends on a meta-feature (n_train), as a real signal would."""
    rng = np.random.default_rng(seed)
    space = default_space()
    rows = []
    for t in range(n_tasks):
        desc = TaskDescription(name=f"t{t}", modality="image", task_type="classification", n_train=300 * (t + 1),
                               n_classes=10, class_counts=[30 * (t + 1)] * 10, input_size=64, model_params=50_000)
        mf = metafeatures.compute(desc)
        for config in space.sample(rng, n_configs):
            best_lr = -3.0 - 0.3 * t
            value = 0.9 - 0.1 * (np.log10(config["learning_rate"]) - best_lr) ** 2 + rng.normal(0, 0.01)
            row = {"task": desc.name, "direction": "max", "value": value, "outcome": "complete"}
            row.update({f"param.{k}": v for k, v in config.items()})
            row.update({f"mf.{k}": v for k, v in mf.items()})
            rows.append(row)
    return pd.DataFrame(rows)


def test_percentile_rank_handles_direction_ties_and_failures():
    np.testing.assert_allclose(task_percentile_rank(np.array([0.1, 0.5, 0.3]), "max"), [0, 1, 0.5])
    np.testing.assert_allclose(task_percentile_rank(np.array([0.1, 0.5, 0.3]), "min"), [1, 0, 0.5])
    np.testing.assert_allclose(task_percentile_rank(np.array([0.2, np.nan, 0.2, 0.9]), "max"), [0.5, 0, 0.5, 1])


def test_regret_of_the_top_pick():
    values = np.array([0.5, 0.9, 0.1])
    assert best_of_k_regret(values, np.array([0, 1, 0]), 1, "max") == 0.0
    assert best_of_k_regret(values, np.array([1, 0, 0]), 1, "max") == pytest.approx(0.5)
    assert best_of_k_regret(np.array([0.5, np.nan, 0.1]), np.array([0, 1, 0]), 1, "max") == pytest.approx(1.0)


def test_fit_export_load_predict_round_trip(tmp_path):
    frame = synthetic_histories()
    fitted = fit_metamodel(frame)
    assert fitted.validation["mean_regret_top1"] is not None
    result = export_onnx(fitted, tmp_path / "m.onnx")
    assert result.max_abs_diff <= 1e-4 and result.size_bytes > 0

    model = MetaModel.load(tmp_path / "m.onnx")
    assert model.feature_names == fitted.feature_names
    assert model.meta["provenance"]["tasks"] == ["t0", "t1", "t2"]
    assert model.meta["target"]["name"] == "task_percentile_rank"
    data = build_dataset(frame)
    np.testing.assert_allclose(model.predict_matrix(data.x), fitted.estimator.predict(data.x), atol=1e-4)
    # and through the device's own path: meta-features dict + configs
    row = frame.iloc[0]
    mf = {n: row[f"mf.{n}"] for n in metafeatures.feature_names()}
    configs = [{n: row[f"param.{n}"] for n in default_space().names}]
    assert model.predict(mf, configs)[0] == pytest.approx(fitted.estimator.predict(data.x[:1])[0], abs=1e-4)


def test_parity_over_tolerance_fails_loudly(tmp_path):
    fitted = fit_metamodel(synthetic_histories(n_tasks=2, n_configs=20), validate=False)
    with pytest.raises(ParityError, match="over the tolerance"):
        export_onnx(fitted, tmp_path / "m.onnx", tolerance=-1.0)
    assert not (tmp_path / "m.onnx").exists()


def test_device_refuses_bad_files_with_a_clear_message(tmp_path):
    with pytest.raises(MetaModelError, match="not found"):
        MetaModel.load(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not onnx")
    with pytest.raises(MetaModelError, match="not a readable ONNX model"):
        MetaModel.load(junk)

    fitted = fit_metamodel(synthetic_histories(n_tasks=2, n_configs=20), validate=False)
    import onnx
    from hpo_agent.export.onnx_export import to_onnx

    bare = to_onnx(fitted)
    onnx.save(bare, str(tmp_path / "bare.onnx"))
    with pytest.raises(MetaModelError, match="not an hpo-agent meta-model"):
        MetaModel.load(tmp_path / "bare.onnx")

    future = to_onnx(fitted)
    prop = future.metadata_props.add()
    prop.key = "hpo_agent"
    prop.value = json.dumps(dict(metadata(fitted, {}), schema_version=99))
    onnx.save(future, str(tmp_path / "future.onnx"))
    with pytest.raises(MetaModelError, match="schema 99.*reads schema 1"):
        MetaModel.load(tmp_path / "future.onnx")


def test_fit_on_empty_histories_says_what_to_do():
    with pytest.raises(ValueError, match="hpo-agent collect"):
        fit_metamodel(pd.DataFrame())


def test_task_balanced_weights_give_every_task_the_same_total():
    from hpo_agent.trainer.learners import fit_learner, task_balanced_weights

    tasks = np.array(["a"] * 6 + ["b"] * 2)
    w = task_balanced_weights(tasks)
    assert w[:6].sum() == pytest.approx(w[6:].sum()) and w.mean() == pytest.approx(1.0)
    x, y = np.arange(8, dtype=np.float32)[:, None], np.arange(8, dtype=np.float32)
    assert fit_learner("gbm_balanced", x, y, tasks).predict(x).shape == (8,)
    with pytest.raises(ValueError, match="gbm, gbm_balanced, forest"):
        fit_learner("svm", x, y, tasks)
