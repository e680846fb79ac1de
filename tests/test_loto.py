"""Leave-one-task-out (trainer/loto.py): the shared loop, the learner-choosing rule, its nested check."""

import numpy as np
import pytest

pytest.importorskip("sklearn")

from hpo_agent.trainer.evaluate import NESTED, evaluate_loto, render  # noqa: E402
from hpo_agent.trainer.fit import build_dataset  # noqa: E402
from hpo_agent.trainer.learners import LEARNERS, fit_learner, task_group  # noqa: E402
from hpo_agent.trainer.loto import (choose_learner, held_out_scores, inner_scores,  # noqa: E402
                                    leave_one_task_out, nested_choices, subset)
from test_metamodel_export import synthetic_histories  # noqa: E402


def variant_histories():
    """Four tasks in three data-set groups: t1 and t1@n150 are variants of one data set."""
    frame = synthetic_histories(n_tasks=4, n_configs=30)
    frame.loc[frame["task"] == "t3", "task"] = "t1@n150"
    return frame


def test_choose_learner_takes_highest_spearman_then_lowest_regret():
    assert choose_learner({"a": (0.2, 0.9), "b": (0.1, 0.1)}) == "a"
    assert choose_learner({"a": (0.2, 0.7), "b": (0.1, 0.7)}) == "b"
    assert choose_learner({"a": (0.1, None), "b": (0.4, 0.2)}) == "b"  # no score never wins
    assert choose_learner({"a": (0.1, float("nan")), "b": (0.4, 0.2)}) == "b"


def test_the_former_rule_takes_lowest_regret_then_highest_spearman():
    assert choose_learner({"a": (0.2, 0.9), "b": (0.1, 0.1)}, "top1_regret") == "b"
    assert choose_learner({"a": (0.1, 0.5), "b": (0.1, 0.7)}, "top1_regret") == "b"
    assert choose_learner({"a": (None, 0.9), "b": (0.4, None)}, "top1_regret") == "b"
    with pytest.raises(ValueError, match="rule 'median' is not known; use one of spearman, top1_regret"):
        choose_learner({"a": (0.1, 0.5)}, "median")


def test_fit_command_offers_every_learner():
    from hpo_agent.agent.cli.fit import LEARNER_CHOICES

    assert LEARNER_CHOICES == LEARNERS


def test_held_out_scores_fit_once_per_group_without_its_rows():
    data = build_dataset(variant_histories())
    scores = held_out_scores(data, "gbm")
    assert sorted(scores) == ["t0", "t1", "t1@n150", "t2"]
    for task in ("t1", "t1@n150"):  # the sibling is left out too: same model as fitted by hand
        train = np.array([task_group(t) != "t1" for t in data.tasks])
        by_hand = fit_learner("gbm", data.x[train], data.y[train], data.tasks[train],
                              feature_names=data.feature_names).predict(data.x[data.tasks == task])
        np.testing.assert_allclose(scores[task], by_hand)
    plain = held_out_scores(data, "gbm", derived=False)["t1"]  # without the derived features
    by_hand = fit_learner("gbm", data.x[train], data.y[train], data.tasks[train]).predict(data.x[data.tasks == "t1"])
    np.testing.assert_allclose(plain, by_hand)


def test_leave_one_task_out_means_its_per_task_figures():
    result = leave_one_task_out(build_dataset(variant_histories()), "gbm")
    per = result["per_task"]
    assert result["mean_regret_top1"] == pytest.approx(np.mean([v["regret_top1"] for v in per.values()]))
    assert all(v["n"] == 30 for v in per.values())


def test_nested_choice_uses_only_the_other_groups():
    data = build_dataset(variant_histories())
    choices = nested_choices(data, inner_scores(data, ("gbm", "forest")))
    assert sorted(choices) == ["t0", "t1", "t1@n150", "t2"]
    assert choices["t1"] == choices["t1@n150"]  # one choice per held-out group
    inner = subset(data, np.array([task_group(t) != "t1" for t in data.tasks]))
    assert set(inner.tasks) == {"t0", "t2"} and set(inner.directions) == {"t0", "t2"}
    by_hand = {m: leave_one_task_out(inner, m) for m in ("gbm", "forest")}
    assert choices["t1"] == choose_learner({m: (r["mean_regret_top1"], r["mean_spearman"]) for m, r in by_hand.items()})


def test_evaluate_nested_row_scores_each_task_with_its_choice():
    result = evaluate_loto(variant_histories(), nested=True)
    choices = result["nested"]["choices"]
    for task, learner in choices.items():
        assert result["per_task"][task][NESTED] == result["per_task"][task][learner]
    assert set(choices.values()) <= set(LEARNERS)
    assert NESTED in result["summary"] and f"{NESTED}: the learner" in render(result)
    by_rule = result["nested"]["by_rule"]
    assert set(by_rule) == {"spearman", "top1_regret"} and by_rule["spearman"]["choices"] == choices
    for entry in by_rule.values():  # each rule's summary is the mean of its own choices' rows
        picks = entry["choices"]
        assert entry["summary"]["regret@1"] == pytest.approx(
            np.mean([result["per_task"][t][m]["regret@1"] for t, m in picks.items()]))
    assert "rule top1_regret:" in render(result)
    with pytest.raises(ValueError, match="nested row chooses among all learners"):
        evaluate_loto(variant_histories(), methods=("gbm",), nested=True)
