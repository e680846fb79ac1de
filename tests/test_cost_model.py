"""The cost meta-model: targets from recorded times, leave-one-task-out validation, the ONNX's
second output, and the tune report's speed check."""

import json

import numpy as np
import pytest

from hpo_agent.agent.candidates import Candidate, speed_check
from hpo_agent.agent.metamodel import MetaModel
from hpo_agent.agent.space import config_key

pd = pytest.importorskip("pandas")
pytest.importorskip("skl2onnx")

from hpo_agent.export import export_onnx  # noqa: E402
from hpo_agent.trainer.cost import cost_targets  # noqa: E402
from hpo_agent.trainer.fit import fit_metamodel  # noqa: E402

from test_metamodel_export import synthetic_histories  # noqa: E402


def timed_histories(seed=0):
    """Synthetic histories whose seconds per step grow with batch size and layers, per task scale."""
    frame = synthetic_histories(n_tasks=3, n_configs=40, seed=seed)
    rng = np.random.default_rng(seed)
    scale = frame["task"].map({"t0": 1.0, "t1": 2.0, "t2": 4.0}).to_numpy()
    per_step = 1e-3 * scale * frame["param.batch_size"].to_numpy() * frame["param.num_layers"].to_numpy() ** 0.5
    per_step *= np.exp(rng.normal(0, 0.05, len(frame)))
    frame["fidelity_steps"] = [json.dumps([20, 60])] * len(frame)
    frame["train_seconds_at_fidelity"] = [json.dumps([20 * s, 60 * s]) for s in per_step]
    return frame, per_step


def test_cost_targets_per_step_then_per_trial_then_unknown():
    frame = pd.DataFrame({"fidelity_steps": ["[10, 30]", "[10, 30]", None],
                          "train_seconds_at_fidelity": ["[1.0, 3.0]", "[2.0]", None],
                          "wall_time_s": [9.0, 9.0, 9.0]})
    y, unit = cost_targets(frame)
    assert unit == "step"
    np.testing.assert_allclose(y[:2], [np.log10(0.1), np.log10(0.2)])  # the last fidelity reached
    assert np.isnan(y[2])
    y, unit = cost_targets(pd.DataFrame({"wall_time_s": [10.0, "x"]}))
    assert unit == "trial" and y[0] == pytest.approx(1.0) and np.isnan(y[1])
    y, unit = cost_targets(pd.DataFrame({"value": [1.0]}))
    assert np.isnan(y).all()


def test_cost_model_is_fitted_validated_exported_and_queried(tmp_path):
    frame, per_step = timed_histories()
    fitted = fit_metamodel(frame)
    cost = fitted.aux["cost"]
    assert cost.target["unit"] == "step"
    # within a held-out task the order of costs is what the model learns from the other tasks
    assert cost.validation["mean_spearman"] > 0.8
    assert set(cost.validation["per_task"]) == {"t0", "t1", "t2"}

    export_onnx(fitted, tmp_path / "m.onnx")
    model = MetaModel.load(tmp_path / "m.onnx")
    assert model.has_output("cost")
    assert model.meta["outputs"]["cost"]["validation"]["mean_spearman"] == cost.validation["mean_spearman"]
    configs = [{"learning_rate": 1e-3, "batch_size": b, "num_layers": 4, "dropout": 0.1, "optimizer": "adam",
                "weight_decay": 0.0} for b in (16, 64, 128)]
    features = {n: float(frame.iloc[0][f"mf.{n}"]) for n in model.meta_feature_names}
    seconds = model.predict_cost(features, configs)
    assert seconds is not None and np.all(np.diff(seconds) > 0)  # bigger batches cost more per step
    want = 10 ** cost.estimator.predict(model.features(features, configs))
    np.testing.assert_allclose(seconds, want, rtol=1e-4)
    # the score output is unchanged by the extra graph
    np.testing.assert_allclose(model.predict(features, configs),
                               fitted.estimator.predict(model.features(features, configs)), atol=1e-4)


def test_a_model_without_cost_output_says_so(tmp_path):
    fitted = fit_metamodel(synthetic_histories())  # no recorded times
    assert fitted.aux == {}
    export_onnx(fitted, tmp_path / "m.onnx")
    model = MetaModel.load(tmp_path / "m.onnx")
    assert not model.has_output("cost")
    assert model.predict_cost({}, [{}]) is None


def test_speed_check_compares_predicted_and_measured_seconds_per_step():
    cands = [Candidate({"batch_size": b}, 1.0, predicted_s_per_step=0.01 * b) for b in (8, 16, 32, 64)]
    measured = {config_key(c.config): 0.005 * c.config["batch_size"] for c in cands[:3]}  # 2x as fast here
    check = speed_check(cands, measured)
    assert check["speed_vs_histories"] == pytest.approx(2.0)
    assert check["spearman"] == pytest.approx(1.0)
    assert len(check["candidates"]) == 3
    assert speed_check([Candidate({"batch_size": 8}, 1.0)], measured) is None
