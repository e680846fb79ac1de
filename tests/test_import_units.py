"""Importing histories: space files, table checks, Optuna studies, custom meta-features downstream."""

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from hpo_agent.agent.cli import cli
from hpo_agent.agent.space import SearchSpace

pd = pytest.importorskip("pandas")
optuna = pytest.importorskip("optuna")

from hpo_agent.trainer import importing  # noqa: E402
from hpo_agent.trainer.fit import build_dataset  # noqa: E402
from hpo_agent.trainer.history import load_histories  # noqa: E402

SPACE = [{"name": "lr", "type": "float", "low": 1e-4, "high": 1e-1, "log": True},
         {"name": "layers", "type": "int", "low": 1, "high": 4},
         {"name": "act", "type": "categorical", "choices": ["relu", "tanh"]}]


def table(n_tasks=2, n=6, seed=0):
    rng = np.random.default_rng(seed)
    space = SearchSpace.from_dict(SPACE)
    rows = []
    for t in range(n_tasks):
        for c in space.sample(rng, n):
            rows.append(dict(task=f"t{t}", **c, size=100.0 * (t + 1), classes=3, loss=float(rng.uniform(0.1, 1))))
    return pd.DataFrame(rows)


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def space_json(tmp_path):
    path = tmp_path / "space.json"
    path.write_text(json.dumps(SPACE))
    return path


# -- search-space files ----------------------------------------------------------------------------
def test_space_from_yaml_and_json_agree(tmp_path, space_json):
    yaml = pytest.importorskip("yaml")
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump({"params": SPACE}))
    assert importing.load_space(path) == importing.load_space(space_json) == SearchSpace.from_dict(SPACE)
    assert importing.load_space("default").names[0] == "learning_rate"


@pytest.mark.parametrize("params, message", [
    ([{"name": "lr", "type": "float", "low": 1, "hi": 2}], "unknown key(s) ['hi']"),
    ([{"name": "lr", "low": 1, "high": 2}], "needs at least 'name' and 'type'"),
    ([{"name": "lr", "type": "double", "low": 1, "high": 2}], "must be one of float, int, categorical"),
    ({"space": []}, "expected a list of params"),
])
def test_bad_space_files_say_what_is_wrong(tmp_path, params, message):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(params))
    with pytest.raises(ValueError, match=re.escape(message)):
        importing.load_space(path)


# -- tables ----------------------------------------------------------------------------------------
def test_parquet_table_with_prefixed_columns_imports(tmp_path, space_json):
    frame = table().rename(columns={"lr": "param.lr", "size": "mf.size", "classes": "mf.classes"})
    frame.to_parquet(tmp_path / "t.parquet")
    result = run("import", tmp_path / "t.parquet", "--space", space_json, "--objective", "loss", "--direction", "min",
                 "--storage", tmp_path / "h.db")
    assert result.exit_code == 0, result.output
    hist = load_histories(str(tmp_path / "h.db"))
    assert len(hist) == 12 and set(hist["direction"]) == {"min"} and set(hist["metric"]) == {"loss"}
    assert hist.groupby("task")["mf.size"].first().to_dict() == {"t0": 100.0, "t1": 200.0}
    assert set(hist["study"]) == {"t0|imported|any", "t1|imported|any"}


def test_rows_outside_the_space_are_refused_or_skipped(tmp_path, space_json):
    frame = table()
    frame.loc[2, "layers"] = 9
    frame.loc[4, "act"] = "gelu"
    frame.to_csv(tmp_path / "t.csv", index=False)
    args = ["import", tmp_path / "t.csv", "--space", space_json, "--objective", "loss", "--direction", "min",
            "--storage", tmp_path / "h.db"]
    result = run(*args)
    assert result.exit_code == 1
    assert "2 row(s) do not fit the search space" in result.output and "line 4: layers=9 is outside [1, 4]" in result.output
    assert "--skip-invalid" in result.output
    result = run(*args, "--skip-invalid")
    assert result.exit_code == 0, result.output
    assert "2 invalid skipped" in result.output and len(load_histories(str(tmp_path / "h.db"))) == 10


@pytest.mark.parametrize("change, extra, message", [
    (lambda f: f.drop(columns=["layers"]), [], "no column for param 'layers'"),
    (lambda f: f.assign(size=np.arange(len(f), dtype=float)), ["--meta-columns", "size,classes"],
     "meta-feature 'size' varies within task 't0'"),
    (lambda f: f, ["--meta-columns", "nope"], r"no meta-feature column\(s\) \['nope'\]"),
    (lambda f: f, ["--objective", "accuracy"], "no objective column 'accuracy'"),
])
def test_table_problems_are_one_line_errors(tmp_path, space_json, change, extra, message):
    change(table()).to_csv(tmp_path / "t.csv", index=False)
    args = ["import", tmp_path / "t.csv", "--space", space_json, "--direction", "min", "--storage", tmp_path / "h.db"]
    result = run(*args, *(extra if "--objective" in extra else ["--objective", "loss", *extra]))
    assert result.exit_code == 1, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert re.search(message, result.output), result.output


def test_direction_and_space_are_required_for_plain_tables(tmp_path, space_json):
    table().to_csv(tmp_path / "t.csv", index=False)
    result = run("import", tmp_path / "t.csv", "--space", space_json, "--objective", "loss", "--storage", tmp_path / "h.db")
    assert result.exit_code == 1 and "--direction max or min" in result.output
    result = run("import", tmp_path / "t.csv", "--objective", "loss", "--direction", "min", "--storage", tmp_path / "h.db")
    assert result.exit_code == 1 and "carries no search space" in result.output
    result = run("import", "--storage", tmp_path / "h.db")
    assert result.exit_code == 2 and "give one of: a TABLE" in result.output


def test_a_task_cannot_change_meta_features_or_space_between_imports(tmp_path, space_json):
    table().to_csv(tmp_path / "t.csv", index=False)
    args = ["import", tmp_path / "t.csv", "--space", space_json, "--objective", "loss", "--direction", "min",
            "--storage", tmp_path / "h.db"]
    assert run(*args).exit_code == 0
    table().assign(size=7.0).to_csv(tmp_path / "t.csv", index=False)
    result = run(*args)
    assert result.exit_code == 1 and "exists" in result.output and "meta_features" in result.output


# -- Optuna studies --------------------------------------------------------------------------------
def make_optuna_study(path, n=12):
    def objective(trial):
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        layers = trial.suggest_int("layers", 1, 4)
        act = trial.suggest_categorical("act", ["relu", "tanh"])
        trial.report(0.5, 1)
        if trial.number == 3:
            raise optuna.TrialPruned()
        if trial.number == 4:
            raise RuntimeError("diverged")
        return -abs(np.log10(lr) + 2) - 0.1 * layers + (act == "relu")

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(storage=f"sqlite:///{path}", study_name="old", direction="maximize")
    study.optimize(objective, n_trials=n, catch=(RuntimeError,))
    return study


def test_import_an_optuna_study_with_meta_features(tmp_path):
    make_optuna_study(tmp_path / "old.db")
    args = ["import", "--from-optuna-storage", f"sqlite:///{tmp_path / 'old.db'}", "--study", "old",
            "--task", "legacy", "--meta", "size=5000", "--meta", "classes=10", "--storage", tmp_path / "h.db"]
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert "legacy|imported|any: 12 trial(s) added, 2 failed/pruned" in result.output
    hist = load_histories(str(tmp_path / "h.db"))
    assert len(hist) == 12 and set(hist["task"]) == {"legacy"} and set(hist["direction"]) == {"max"}
    assert sorted(hist["outcome"].value_counts().items()) == [("complete", 10), ("failed", 1), ("pruned", 1)]
    assert hist["mf.size"].eq(5000).all() and list(hist.filter(like="mf.").columns) == ["mf.size", "mf.classes"]
    assert hist["fidelity_values"].map(len).eq(1).all()  # intermediate values came along
    space = importing.infer_space(optuna.load_study(study_name="old", storage=f"sqlite:///{tmp_path / 'old.db'}").trials)
    assert space.names == ["lr", "layers", "act"] and space["lr"].log and space["act"].choices == ("relu", "tanh")
    data = build_dataset(hist)  # the space comes from the store
    assert data.space == space and data.meta_feature_names == ["size", "classes"]
    assert "12 already present" in run(*args).output  # idempotent


def test_optuna_import_needs_meta_features_and_a_known_study(tmp_path):
    make_optuna_study(tmp_path / "old.db", n=3)
    src = f"sqlite:///{tmp_path / 'old.db'}"
    result = run("import", "--from-optuna-storage", src, "--study", "old", "--storage", tmp_path / "h.db")
    assert result.exit_code == 1 and "--meta name=value" in result.output
    result = run("import", "--from-optuna-storage", src, "--study", "nope", "--meta", "a=1", "--storage", tmp_path / "h.db")
    assert result.exit_code == 1 and "no study 'nope'" in result.output and "old" in result.output
    result = run("import", "--from-optuna-storage", src, "--study", "old", "--meta", "a", "--storage", tmp_path / "h.db")
    assert result.exit_code == 2 and "NAME=NUMBER" in result.output


# -- downstream: fit and the device runtime --------------------------------------------------------
def test_build_dataset_refuses_to_mix_builtin_and_custom_meta_features(tmp_path, space_json):
    table().to_csv(tmp_path / "t.csv", index=False)
    run("import", tmp_path / "t.csv", "--space", space_json, "--objective", "loss", "--direction", "min",
        "--storage", tmp_path / "h.db")
    hist = load_histories(str(tmp_path / "h.db"))
    mixed = pd.concat([hist, hist.assign(task="c", meta_feature_version=1)])
    with pytest.raises(ValueError, match="mix built-in meta-features"):
        build_dataset(mixed)
    lacking = pd.concat([hist, hist.assign(task="c").drop(columns=["mf.size"]).assign(**{"mf.other": 1.0})])
    with pytest.raises(ValueError, match="do not share their meta-features"):
        build_dataset(lacking)


def test_histories_with_differing_ranges_merge_into_one_space(tmp_path):
    from hpo_agent.trainer.fit import histories_space

    a = SearchSpace.from_dict(SPACE)
    wider = [dict(SPACE[0], high=0.5), SPACE[1], dict(SPACE[2], choices=["relu", "gelu"])]
    frame = pd.DataFrame({"search_space": [json.dumps(a.to_dict()), json.dumps({"params": wider})]})
    merged = histories_space(frame)
    assert merged["lr"].high == 0.5 and merged["act"].choices == ("relu", "tanh", "gelu")
    other = [dict(SPACE[0], name="eta"), SPACE[1], SPACE[2]]
    with pytest.raises(ValueError, match="different search spaces"):
        histories_space(pd.DataFrame({"search_space": [json.dumps(a.to_dict()), json.dumps({"params": other})]}))


def test_device_accepts_custom_meta_feature_models_and_refuses_unknown_versions(tmp_path, space_json):
    pytest.importorskip("skl2onnx")
    import onnx

    from hpo_agent.agent.metamodel import MetaModel, MetaModelError
    from hpo_agent.export import export_onnx
    from hpo_agent.trainer.fit import fit_metamodel

    table(n_tasks=2, n=20).to_csv(tmp_path / "t.csv", index=False)
    run("import", tmp_path / "t.csv", "--space", space_json, "--objective", "loss", "--direction", "min",
        "--storage", tmp_path / "h.db")
    fitted = fit_metamodel(load_histories(str(tmp_path / "h.db")), validate=False)
    export_onnx(fitted, tmp_path / "m.onnx")

    def with_version(version):
        model = onnx.load(str(tmp_path / "m.onnx"))
        prop = next(p for p in model.metadata_props if p.key == "hpo_agent")
        prop.value = json.dumps(dict(json.loads(prop.value), meta_feature_version=version))
        out = tmp_path / f"m_{version}.onnx"
        onnx.save(model, str(out))
        return out

    model = MetaModel.load(with_version("custom"))
    scores = model.predict({"size": 150.0, "classes": 3.0}, [{"lr": 0.01, "layers": 2, "act": "relu"}])
    assert scores.shape == (1,) and np.isfinite(scores).all()
    with pytest.raises(ValueError, match="meta-features missing"):
        model.predict({"size": 150.0}, [{"lr": 0.01, "layers": 2, "act": "relu"}])
    with pytest.raises(MetaModelError, match="meta-features v99"):
        MetaModel.load(with_version(99))
