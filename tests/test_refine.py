"""Re-ranking between brackets (agent/refine.py): calibration, the residual GP, edge cases."""

import numpy as np
import pytest

from hpo_agent.agent import refine


def test_calibrate_fits_one_slope_and_an_intercept_per_level():
    prior = np.array([0.1, 0.5, 0.9, 0.2, 0.8])
    level = np.array([0, 0, 0, 1, 1])
    y = np.where(level == 0, 0.3, 0.7) + 0.5 * prior
    a, b = refine.calibrate(prior, y, level)
    assert b == pytest.approx(0.5)
    assert a.tolist() == pytest.approx([0.3, 0.7])


def test_a_prior_the_task_contradicts_gets_slope_zero():
    prior = np.array([0.1, 0.5, 0.9])
    a, b = refine.calibrate(prior, 1.0 - prior)
    assert b == 0.0
    assert a[0] == pytest.approx(0.5)


def test_too_few_observations_keep_the_meta_models_order():
    x = np.array([[0.0], [1.0]])
    assert refine.refine_scores(x, [0.1, 0.2], [0.5, 0.6], x, [0.1, 0.2]) is None
    # a failed trial does not count towards the minimum
    x3 = np.array([[0.0], [0.5], [1.0]])
    assert refine.refine_scores(x3, [0.1, 0.2, 0.3], [0.5, np.nan, 0.6], x3, [0.1, 0.2, 0.3]) is None


def test_residuals_move_the_ranking_towards_what_was_observed():
    # The prior says "the further right, the better"; the task says the left corner is best.
    x_obs = np.array([[0.0], [0.05], [0.5], [0.55], [1.0]])
    prior_obs = x_obs[:, 0]
    y_obs = np.array([0.95, 0.93, 0.60, 0.61, 0.62])
    x_cand = np.array([[0.02], [0.9]])
    scores = refine.refine_scores(x_obs, prior_obs, y_obs, x_cand, x_cand[:, 0], acquisition="mean")
    assert scores[0] > scores[1]


def test_minimised_metrics_and_failures():
    x_obs = np.array([[0.0], [0.3], [0.6], [1.0]])
    prior = np.zeros(4)
    loss = np.array([0.1, 0.5, 0.9, np.nan])  # low loss on the left; the right end diverged
    x_cand = np.array([[0.05], [0.95]])
    scores = refine.refine_scores(x_obs, prior, loss, x_cand, np.zeros(2), acquisition="mean", direction="min")
    assert scores[0] > scores[1]


def test_uncertainty_grows_away_from_observations():
    x_obs = np.array([[0.0], [0.1], [0.2], [0.3]])
    post = refine.posterior(x_obs, np.zeros(4), np.array([0.5, 0.6, 0.55, 0.52]),
                            np.array([[0.15], [3.0]]), np.zeros(2))
    assert post.std[1] > post.std[0]


def test_results_that_all_tie_teach_nothing():
    x = np.array([[0.0], [0.5], [1.0]])
    assert refine.refine_scores(x, [0.1, 0.2, 0.3], [1.0, 1.0, 1.0], x, [0.1, 0.2, 0.3]) is None
    assert refine.refine_order(x, [0.1, 0.2, 0.3], [1.0, 1.0, 1.0], x, [0.3, 0.2, 0.1]).tolist() == [0, 1, 2]


def test_next_bracket_skips_tried_configs_and_follows_the_results():
    from hpo_agent.agent.brackets import best_winner, next_candidates
    from hpo_agent.agent.candidates import rank
    from hpo_agent.agent.records import TrialResult
    from hpo_agent.agent.space import default_space

    space = default_space()
    grid = space.grid()
    # The meta-model likes weight decay and learning rate 1e-3 (the grid's first value) ...
    prior = np.array([c["weight_decay"] + (0.05 if c["learning_rate"] == 1e-3 else 0.0) for c in grid])
    ranked = rank(grid, prior)
    # ... the first bracket tried every learning rate, and the task says: the lower the better.
    first = [c for c in ranked if c.config["weight_decay"] == 0.1 and c.config["batch_size"] == 16
             and c.config["num_layers"] == 6 and c.config["dropout"] == 0.1]
    results = [TrialResult(tid, 0, cand.config, "complete", score=1.0 - 100 * cand.config["learning_rate"])
               for tid, cand in enumerate(first)]
    static = [c.config for c in ranked if c not in first][:3]
    assert all(c["learning_rate"] == 1e-3 for c in static)
    chosen, _ = next_candidates(ranked, first, results, 3, "max", space)
    assert len(chosen) == 3 and not {str(c.config) for c in first} & {str(c.config) for c in chosen}
    assert all(c.config["learning_rate"] < 1e-3 for c in chosen), [c.config for c in chosen]
    # with memory: a budget that nothing fits gives no candidates, and says which were skipped
    chosen, skipped = next_candidates(ranked, first, results, 3, "max", space, lambda config: 10**9, 10**6)
    assert chosen == [] and skipped
    # the winner across brackets: deepest rung first, then score
    results.append(TrialResult(1, 1, first[1].config, "complete", score=0.5))
    assert best_winner(results, [0, 1], "max") == 1
    low = next(t for t, c in enumerate(first) if c.config["learning_rate"] == 1e-4)  # score 0.99 vs 0.9
    assert best_winner(results, [0, low], "max") == low and best_winner(results, [0, low], "min") == 0


def test_a_diverged_observation_is_avoided_without_wrecking_the_fit():
    """An MSE of 90 among MSEs near 1 (minimised) is treated as the worst value seen: the line and
    the GP still follow the other observations instead of that one outlier."""
    x_obs = np.array([[0.0], [0.25], [0.5], [0.75], [1.0], [0.9]])
    mse = np.array([1.0, 0.8, 0.6, 0.4, 0.2, 90.0])   # better towards x = 1, one run blew up at 0.9
    prior = np.zeros(len(mse))
    x_cand = np.array([[0.1], [0.95]])
    scores = refine.refine_scores(x_obs, prior, mse, x_cand, np.zeros(2), acquisition="mean", direction="min")
    assert refine.diverged(-mse).tolist() == [False] * 5 + [True]
    assert np.all(np.abs(scores) < 5.0)  # in the sane runs' units (negated MSE), not swamped by 90


def test_bracket_sizes_cycle_as_hyperband_and_levels_compare_across_brackets():
    from hpo_agent.agent.brackets import best_winner, bracket_plan
    from hpo_agent.agent.records import TrialResult

    assert [bracket_plan(b, 9, 3) for b in range(5)] == [(9, 0), (3, 1), (1, 2), (9, 0), (3, 1)]
    assert [bracket_plan(b, 5, 3) for b in range(3)] == [(5, 0), (1, 1), (5, 0)]  # two rungs for 5
    assert [bracket_plan(b, 1, 3) for b in range(2)] == [(1, 0), (1, 0)]
    # bracket 0's winner reached rung 2; bracket 2's single config ran at its rung 0 = level 2
    results = [TrialResult(0, 2, {}, "complete", score=0.8), TrialResult(13, 0, {}, "complete", score=0.9)]
    assert best_winner(results, [0, 13], "max") == 0  # without offsets rung 0 looks shallower
    assert best_winner(results, [0, 13], "max", offsets={13: 2}) == 13
    assert best_winner(results, [0, 13], "max", offsets={13: 1}) == 0  # cut short: level 1 < 2


def test_expected_improvement_matches_the_closed_form():
    ei = refine.expected_improvement(np.array([0.0, 1.0, -1.0, 0.5]), np.array([1.0, 1.0, 0.0, 0.0]), 0.0)
    # at the incumbent with unit spread: the standard normal's pdf at 0; no spread: the gap if positive
    assert ei.tolist() == pytest.approx([1.0 / np.sqrt(2 * np.pi), 1.0833154705876864, 0.0, 0.5])


def test_a_fidelity_that_disagrees_gets_its_own_say():
    """Short runs favour the right, full runs the left (a slow starter): the residual GP learns that
    the two fidelities disagree and predicts the full-run value from the full runs."""
    xs = np.linspace(0.0, 1.0, 6)
    x_obs = np.concatenate([xs, xs])[:, None]
    level = np.array([0] * 6 + [1] * 6)
    y = np.where(level == 0, xs[np.arange(12) % 6], 1.0 - xs[np.arange(12) % 6])
    post = refine.posterior(x_obs, np.zeros(12), y, np.array([[0.05], [0.95]]), np.zeros(2), level)
    assert np.isfinite(post.level_lengthscale)
    assert post.mean[0] > post.mean[1]
    scores = refine.refine_scores(x_obs, np.zeros(12), y, np.array([[0.05], [0.95]]), np.zeros(2), level=level)
    assert scores[0] > scores[1]


def test_an_unknown_acquisition_is_named():
    x = np.array([[0.0], [0.5], [1.0]])
    with pytest.raises(ValueError, match="acquisition is 'pi'; known: ei, ucb, mean"):
        refine.refine_scores(x, [0.1, 0.2, 0.3], [0.1, 0.5, 0.9], x, [0.1, 0.2, 0.3], acquisition="pi")
