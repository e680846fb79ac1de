import itertools

import numpy as np
import pytest

pytest.importorskip("sklearn")

from hpo_agent.trainer.evaluate import (best_of_k_regret, evaluate_loto,  # noqa: E402
                                        random_best_of_k_regret, render, spread_best_of_k_regret)
from test_metamodel_export import synthetic_histories  # noqa: E402


def test_best_of_k_regret_by_hand():
    values = np.array([0.1, 0.5, 0.9, 0.3])
    scores = np.array([4, 3, 1, 2])  # ranks 0.1 first, then 0.5, 0.3, 0.9
    assert best_of_k_regret(values, scores, 1, "max") == pytest.approx(1.0)
    assert best_of_k_regret(values, scores, 2, "max") == pytest.approx(0.5)
    assert best_of_k_regret(values, scores, 4, "max") == 0.0
    assert best_of_k_regret(values, np.array([1, 4, 2, 3]), 1, "min") == pytest.approx(0.5)  # picks 0.5; best 0.1


def test_spread_best_of_k_counts_near_twins_once():
    values = np.array([0.5, 0.55, 0.9, 0.1])
    scores = np.array([4.0, 3.0, 2.0, 1.0])
    x = np.array([[0.0, 0.0], [0.0, 0.1], [1.0, 1.0], [0.5, 0.5]])  # config 1 is config 0's twin
    assert best_of_k_regret(values, scores, 2, "max") == pytest.approx(0.35 / 0.8)
    assert spread_best_of_k_regret(values, scores, x, 2, "max") == 0.0       # twin passed over: 0 then 2
    assert spread_best_of_k_regret(values, scores, x, 2, "max", min_distance=0.0) == pytest.approx(0.35 / 0.8)


def test_random_regret_is_the_exact_expectation():
    values = np.array([0.1, 0.5, 0.9, 0.3, np.nan])
    for k in (1, 2, 3):
        brute = []
        for combo in itertools.combinations(range(5), k):
            got = max([values[i] if np.isfinite(values[i]) else 0.1 for i in combo])
            brute.append((0.9 - got) / 0.8)
        assert random_best_of_k_regret(values, k, "max") == pytest.approx(np.mean(brute))


def test_loto_meta_model_beats_random_on_learnable_histories():
    result = evaluate_loto(synthetic_histories(n_tasks=4, n_configs=40))
    s = result["summary"]
    assert set(s) == {"gbm", "gbm_balanced", "forest", "average_rank", "nearest_task", "random"}
    assert s["gbm"]["regret@5"] < s["random"]["regret@5"]
    assert s["gbm"]["spearman"] > 0.5
    assert "regret@10" in render(result) and "spread@10" in render(result)
    assert "spread@5" in s["gbm"] and "spread@5" not in s["random"]
    assert s["gbm"]["spread@1"] == s["gbm"]["regret@1"]  # the top pick has no twin to skip
    lo, hi = result["intervals"]["methods"]["gbm"]["regret@5"]
    assert lo <= s["gbm"]["regret@5"] <= hi
    assert result["intervals"]["data_sets"] == 4
    assert 0.0 <= result["intervals"]["vs_average_rank"]["gbm"]["regret@1"]["lower"] <= 1.0
    assert "bootstrap interval" in render(result)


def test_loto_needs_two_tasks():
    with pytest.raises(ValueError, match="at least 2 tasks"):
        evaluate_loto(synthetic_histories(n_tasks=1))


def test_cost_capped_regret_runs_the_ranking_until_the_cap():
    import numpy as np

    from hpo_agent.trainer.evaluate import cost_capped_regret

    values = np.array([0.0, 1.0, 0.5, 0.2])     # best is config 1
    costs = np.array([1.0, 5.0, 1.0, 3.0])      # total 10
    order = np.array([2, 0, 1, 3])
    assert cost_capped_regret(values, costs, order, 0.1, "max") == pytest.approx(0.5)   # only config 2 fits
    assert cost_capped_regret(values, costs, order, 0.7, "max") == 0.0                  # 2, 0, 1 fit
    assert cost_capped_regret(values, costs, np.array([1, 0]), 0.1, "max") == 1.0       # first pick too costly
    assert np.isnan(cost_capped_regret(values, np.array([1.0, np.nan, 1, 1]), order, 0.5, "max"))


def test_learner_params_override_the_shipped_settings():
    from hpo_agent.trainer.learners import make_learner

    assert make_learner("gbm", 0, {"max_iter": 7}).max_iter == 7
    assert make_learner("gbm", 0).max_iter == 100
    assert make_learner("forest", 0, {"n_estimators": 3}).n_estimators == 3
    frame = synthetic_histories(n_tasks=3, n_configs=30)
    stump = evaluate_loto(frame, methods=("gbm",), learner_params={"max_iter": 1, "max_leaf_nodes": 2})
    shipped = evaluate_loto(frame, methods=("gbm",))
    assert stump["summary"]["gbm"]["spearman"] != shipped["summary"]["gbm"]["spearman"]


def test_by_modality_splits_the_held_out_tasks_and_recombines_to_the_summary():
    frame = synthetic_histories(n_tasks=4, n_configs=30)
    tabular = frame["task"].isin(["t0", "t1"])
    frame.loc[tabular, "mf.modality=image"] = 0.0
    frame.loc[tabular, "mf.modality=tabular"] = 1.0
    result = evaluate_loto(frame, methods=("gbm", "average_rank", "random"))
    groups = result["by_modality"]
    assert {name: g["tasks"] for name, g in groups.items()} == {"image": ["t2", "t3"], "tabular": ["t0", "t1"]}
    for method, row in result["summary"].items():
        for key in ("regret@1", "regret@5", "spearman"):
            parts = [groups[g]["summary"][method][key] for g in ("image", "tabular")]
            assert row[key] == pytest.approx(np.mean(parts))  # two tasks each: the mean of the two means
    assert "tabular: 2 held-out task(s) of 2 data set(s)" in render(result)


def test_no_modality_grouping_for_histories_with_their_own_meta_features():
    frame = synthetic_histories(n_tasks=3, n_configs=20)
    frame = frame.drop(columns=[c for c in frame.columns if c.startswith("mf.modality=")])
    frame["meta_feature_version"] = "custom"  # as `hpo-agent import` records a table's own meta-features
    assert "by_modality" not in evaluate_loto(frame, methods=("gbm", "random"))
