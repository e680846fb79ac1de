"""A user with their own search space and meta-features: import → fit → export → evaluate, CLI only.

The table is synthetic but has real signal: the best learning rate depends on the task's
``dataset_size`` meta-feature, the best depth on ``n_classes``, and alpha always hurts a little.
"""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from hpo_agent.agent.cli import cli
from hpo_agent.agent.space import SearchSpace

pd = pytest.importorskip("pandas")
pytest.importorskip("optuna")
pytest.importorskip("skl2onnx")

SPACE = [
    {"name": "learning_rate", "type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    {"name": "batch_size", "type": "categorical", "choices": [16, 32, 64, 128]},
    {"name": "depth", "type": "int", "low": 1, "high": 8},
    {"name": "width", "type": "int", "low": 16, "high": 512, "log": True},
    {"name": "alpha", "type": "float", "low": 0.0, "high": 1.0},
]
META = ("dataset_size", "n_classes", "noise_level")


def true_score(config, features):
    """The synthetic objective (higher is better)."""
    best_lr = -1.5 - 0.5 * (np.log10(features["dataset_size"]) - 3.0)   # bigger data → smaller lr
    best_depth = 1 + features["n_classes"] / 4                             # more classes → deeper
    return (0.95 - 0.12 * (np.log10(config["learning_rate"]) - best_lr) ** 2
            - 0.01 * (config["depth"] - best_depth) ** 2 - 0.04 * config["alpha"]
            - 0.02 * abs(np.log2(config["batch_size"]) - 5) - 0.3 * features["noise_level"])


def make_table(n_tasks=6, n_configs=30, seed=0):
    rng = np.random.default_rng(seed)
    space = SearchSpace.from_dict(SPACE)
    rows = []
    for t in range(n_tasks):
        features = {"dataset_size": float(10 ** (2.5 + 0.5 * t)), "n_classes": float(2 + 3 * (t % 4)),
                    "noise_level": float(0.05 * (t % 3))}
        for config in space.sample(rng, n_configs):
            value = true_score(config, features) + rng.normal(0, 0.005)
            rows.append(dict(run=f"t{t}", **config, **features, accuracy=value,
                             seconds=float(rng.uniform(5, 50)), notes="x"))
    rows[3]["accuracy"] = float("nan")  # a failed run
    return pd.DataFrame(rows)


def invoke(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


IMPORT_ARGS = ("--task-column", "run", "--objective", "accuracy", "--direction", "max", "--cost-column", "seconds")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """The user's files, imported once into h.db."""
    d = tmp_path_factory.mktemp("import")
    make_table().to_csv(d / "runs.csv", index=False)
    (d / "space.json").write_text(json.dumps({"params": SPACE}))
    out = invoke("import", d / "runs.csv", "--space", d / "space.json", *IMPORT_ARGS, "--storage", d / "h.db")
    assert "imported 180 trial(s) into 6 studies" in out, out
    assert "meta-features (custom): dataset_size, n_classes, noise_level" in out
    assert "ignored columns: notes" in out  # text; seconds is the cost; the rest are meta-features
    return d


def test_import_fit_export_evaluate_with_own_space_and_meta_features(workdir):
    d, db = workdir, workdir / "h.db"
    # idempotent
    out = invoke("import", d / "runs.csv", "--space", d / "space.json", *IMPORT_ARGS, "--storage", db)
    assert "imported 0 trial(s)" in out and "30 already present" in out

    from hpo_agent.trainer.history import load_histories

    frame = load_histories(str(db))
    assert len(frame) == 180 and set(frame["task"]) == {f"t{i}" for i in range(6)}
    assert set(frame["meta_feature_version"]) == {"custom"}
    assert [c for c in frame.columns if c.startswith("mf.")] == [f"mf.{n}" for n in META]
    assert frame["wall_time_s"].between(5, 50).all() and frame["value"].isna().sum() == 1
    assert (frame["outcome"] == "failed").sum() == 1

    # fit: the space and meta-features come from the store (no --space option needed)
    out = invoke("fit", "--storage", db, "--out", d / "m.joblib")
    assert "fitted gbm on 180 trials of 6 task(s)" in out
    from hpo_agent.trainer.fit import load_fitted

    fitted = load_fitted(d / "m.joblib")
    assert fitted.space == SearchSpace.from_dict(SPACE)
    assert fitted.meta_feature_names == list(META)
    assert fitted.validation["mean_regret_top1"] < 0.25, fitted.validation

    out = invoke("export", d / "m.joblib", "-o", d / "m.onnx")
    assert "parity: max abs difference" in out
    from hpo_agent.agent.metamodel import MetaModel

    model = MetaModel.load(d / "m.onnx")
    assert model.meta_feature_names == list(META) and model.space.names == [p["name"] for p in SPACE]
    # a new task, never seen: the model's top configs should be good ones there
    rng = np.random.default_rng(7)
    features = {"dataset_size": 3e3, "n_classes": 7.0, "noise_level": 0.05}
    configs = model.space.sample(rng, 300)
    scores = model.predict(features, configs)
    truth = np.array([true_score(c, features) for c in configs])
    top = np.argsort(-scores)[:10]
    assert truth[top].mean() > np.quantile(truth, 0.8), (truth[top].mean(), np.quantile(truth, 0.8))

    out = invoke("evaluate", "--storage", db, "--nested", "--out", d / "eval.json")
    result = json.loads((d / "eval.json").read_text())
    assert result["tasks"] == [f"t{i}" for i in range(6)]
    summary = result["summary"]
    assert summary["gbm"]["regret@1"] < summary["random"]["regret@1"], out
    assert summary["gbm"]["spearman"] > 0.5, out
    assert set(result["nested"]["choices"]) == set(result["tasks"]) and "fit_auto" in out


def test_histories_export_round_trip_needs_no_options(workdir, tmp_path):
    db = workdir / "h.db"
    out = invoke("histories", "export", "--storage", db, "-o", tmp_path / "all.parquet")
    assert "wrote 180 trial(s)" in out
    table = pd.read_parquet(tmp_path / "all.parquet")
    assert {"task", "param.depth", "mf.dataset_size", "value", "direction", "search_space"} <= set(table.columns)
    # back into a new store with no space, direction or column options: the table carries them
    out = invoke("import", tmp_path / "all.parquet", "--storage", tmp_path / "again.db")
    assert "imported 180 trial(s) into 6 studies" in out, out
    from hpo_agent.trainer.history import load_histories

    a, b = load_histories(str(db)), load_histories(str(tmp_path / "again.db"))
    cols = ["task", "value", "param.learning_rate", "param.batch_size", "mf.n_classes"]
    key = ["task", "param.learning_rate"]
    pd.testing.assert_frame_equal(a[cols].sort_values(key).reset_index(drop=True),
                                  b[cols].sort_values(key).reset_index(drop=True))
    # and as CSV, one task only
    out = invoke("histories", "export", "--storage", db, "-o", tmp_path / "t0.csv", "--task", "t0")
    assert "wrote 30 trial(s)" in out and len(pd.read_csv(tmp_path / "t0.csv")) == 30
