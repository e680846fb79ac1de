"""The peak-memory meta-model: per-block peak tracking, the learned working-set ratio, its
leave-one-task-out gate, the ONNX's extra output, and the device's corrected estimate."""

import numpy as np
import pytest

from hpo_agent import devices
from hpo_agent.agent.metamodel import MetaModel
from hpo_agent.agent.tune import _memory_estimator

pd = pytest.importorskip("pandas")
pytest.importorskip("skl2onnx")

from hpo_agent.export import export_onnx  # noqa: E402
from hpo_agent.trainer.fit import fit_metamodel  # noqa: E402
from hpo_agent.trainer.memory import beats_analytic, fit_memory_model, memory_rows, memory_targets  # noqa: E402

from test_metamodel_export import synthetic_histories  # noqa: E402

needs_peak = pytest.mark.skipif(not devices.peak_tracking_available(),
                                reason="resetting the peak RSS needs Linux's /proc/self/clear_refs")


@needs_peak
def test_peak_tracker_measures_the_block_not_the_process():
    with devices.PeakTracker() as big:
        block = np.ones(96 * 2**20 // 8)
        block[::512] = 2.0  # touch every page
        del block
    with devices.PeakTracker() as small:
        block = np.ones(8 * 2**20 // 8)
        del block
    assert 90 * 2**20 <= big.working_set_bytes <= 120 * 2**20
    # the earlier, bigger block does not leak into this one's figure (ru_maxrss would say 96+ MiB)
    assert small.working_set_bytes < 32 * 2**20
    assert small.peak_rss_bytes >= small.rss_before_bytes


def memory_table(seed=0, n_tasks=4, per_task=24, bias=None):
    """Measured working sets that the analytic figure underestimates by a factor that grows with
    batch size (the same law on every task, so it transfers)."""
    frame = synthetic_histories(n_tasks=n_tasks, n_configs=per_task, seed=seed)
    rng = np.random.default_rng(seed)
    batch = frame["param.batch_size"].to_numpy(dtype=float)
    analytic = 1e6 * batch * frame["param.num_layers"].to_numpy(dtype=float)
    ratio = 1.1 + 0.4 * np.log2(batch) / 7 if bias is None else bias(frame, rng)
    frame["estimated_working_set_bytes"] = analytic
    frame["working_set_bytes"] = analytic * ratio * np.exp(rng.normal(0, 0.01, len(frame)))
    return frame


def test_memory_targets_are_log_ratios_and_nan_where_unknown():
    table = pd.DataFrame({"working_set_bytes": [200.0, 0.0, None], "estimated_working_set_bytes": [100.0, 5.0, 5.0]})
    y = memory_targets(table)
    assert y[0] == pytest.approx(np.log10(2.0)) and np.isnan(y[1]) and np.isnan(y[2])
    assert memory_targets(pd.DataFrame({"x": [1]})).shape == (1,)


def test_memory_rows_take_probes_when_given_else_training_only_trials_never_both():
    probes = pd.DataFrame({"task": ["a", "b"], "working_set_bytes": [2.0, 3.0], "estimated_working_set_bytes": [1.0, 1.0]})
    trials = pd.DataFrame({"task": ["a", "a", "a", "a"], "working_set_bytes": [9.0, None, 8.0, 30.0],
                           "estimated_working_set_bytes": [1.0, 1.0, 1.0, 1.0],
                           # the last was collected before scopes were recorded: validation passes included
                           "working_set_scope": ["train", "train", "train", None]})
    assert list(memory_rows(trials, probes)["task"]) == ["a", "b"]
    assert list(memory_rows(trials, None)["working_set_bytes"]) == [9.0, 8.0]  # unmeasured and unscoped dropped
    assert memory_rows(trials.iloc[1:2], None) is None and memory_rows(None, None) is None
    assert memory_rows(trials.drop(columns="working_set_scope"), None) is None  # histories from before scopes


def test_a_correction_that_transfers_is_kept_and_exported(tmp_path):
    histories = synthetic_histories()
    fitted = fit_metamodel(histories, memory=memory_table())
    assert fitted.validation["memory"]["shipped"] is True
    mem = fitted.aux["memory"]
    assert beats_analytic(mem)
    v = mem.validation
    assert v["mean_median_abs_log10_error"] < 0.5 * v["mean_median_abs_log10_error_analytic"]

    export_onnx(fitted, tmp_path / "m.onnx")
    model = MetaModel.load(tmp_path / "m.onnx")
    assert model.has_output("memory") and model.has_output("cost") is False
    configs = [{"learning_rate": 1e-3, "batch_size": b, "num_layers": 4, "dropout": 0.1, "optimizer": "adam",
                "weight_decay": 0.0} for b in (8, 128)]
    features = {n: float(histories.iloc[0][f"mf.{n}"]) for n in model.meta_feature_names}
    ratio = model.predict_memory_ratio(features, configs)
    np.testing.assert_allclose(ratio, 10 ** mem.estimator.predict(model.features(features, configs)), rtol=1e-4)
    assert ratio[1] > ratio[0] > 1.0  # bigger batches are underestimated more, as in the table


def test_a_correction_that_does_not_transfer_is_not_shipped():
    # every task has its own unrelated bias: nothing learned on three tasks predicts the fourth
    def bias(frame, rng):
        per_task = {t: 10 ** rng.uniform(-0.6, 0.6) for t in frame["task"].unique()}
        return frame["task"].map(per_task).to_numpy()

    fitted = fit_metamodel(synthetic_histories(), memory=memory_table(bias=bias, seed=3))
    assert "memory" not in fitted.aux
    assert fitted.validation["memory"]["shipped"] is False
    assert fit_memory_model(memory_table().head(5), fitted.space, fitted.meta_feature_names) is None  # too few rows


class _Task:
    activation_model = "leaf"

    def count_params(self, config):
        return 1000 * config["num_layers"]

    def activation_bytes_per_sample(self, config):
        return 4096.0


def test_the_device_estimate_scales_only_the_working_set():
    config = {"num_layers": 4, "batch_size": 32, "optimizer": "adam"}
    plain = _memory_estimator(_Task(), "cpu")(config)
    corrected = _memory_estimator(_Task(), "cpu", lambda c: 2.0)(config)
    overhead = devices.default_overhead_bytes("cpu")
    assert corrected - overhead == pytest.approx(2 * (plain - overhead), abs=2)


@pytest.mark.integration
def test_tune_drops_configs_by_the_corrected_estimate(tmp_path):
    import json

    from click.testing import CliRunner

    from hpo_agent.agent.cli import cli
    from hpo_agent.agent.tasks import get_task
    from hpo_agent.trainer.memory import analytic_working_set

    fitted = fit_metamodel(synthetic_histories(), memory=memory_table())
    assert "memory" in fitted.aux
    export_onnx(fitted, tmp_path / "m.onnx")
    result = CliRunner().invoke(cli, ["tune", "--task", "iris", "--budget", "40s", "--model", str(tmp_path / "m.onnx"),
                                      "--candidates", "2", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    header = json.loads((tmp_path / "iris" / "journal.jsonl").read_text().splitlines()[0])
    model, task = MetaModel.load(tmp_path / "m.onnx"), get_task("iris", seed=0)
    overhead = devices.default_overhead_bytes("cpu")
    for cand in header["candidates"]:
        ratio = model.predict_memory_ratio(header["meta_features"], [cand["config"]])[0]
        assert ratio > 1.0  # the synthetic law: the analytic figure is always an underestimate
        want = overhead + analytic_working_set(task, cand["config"]) * ratio
        assert cand["estimated_bytes"] == pytest.approx(want, abs=2)
