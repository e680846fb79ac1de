"""Replay benchmark on a synthetic recorded grid: costs, regrets, methods, summary."""

import json

import numpy as np
import pandas as pd
import pytest

from hpo_agent.agent.space import Param, SearchSpace
from hpo_agent.trainer import replay as rp

SPACE = SearchSpace((
    Param("learning_rate", "float", 1e-4, 1e-1, log=True, grid=(1e-3, 1e-2, 1e-1)),
    Param("width", "int", 8, 64, log=True, grid=(8, 16, 32)),
    Param("optimizer", "categorical", choices=("adam", "sgd")),
))


def _frame(task="t", drop_last=False):
    rows = []
    grid = SPACE.grid()
    for i, c in enumerate(grid[:-1] if drop_last else grid):
        final = 1.0 - abs(np.log10(c["learning_rate"]) + 2) / 2 - (c["optimizer"] == "sgd") * 0.1 + c["width"] / 1000
        rows.append({"task": task, "direction": "max", "outcome": "complete", "wall_time_s": 4.0,
                     "fidelity_steps": json.dumps([1, 3, 9]),
                     "fidelity_values": json.dumps([final / 3, final / 2, final]),
                     "train_seconds_at_fidelity": json.dumps([0.3, 1.0, 3.0]),
                     "value": final, "mf.a": 1.0 if task == "t" else 2.0,
                     **{f"param.{k}": v for k, v in c.items()}})
    return pd.DataFrame(rows)


@pytest.fixture()
def table():
    return rp.grid_tables(_frame(), SPACE)["t"]


def test_only_tasks_covering_the_grid_qualify():
    frame = pd.concat([_frame("t"), _frame("partial", drop_last=True)])
    assert list(rp.grid_tables(frame, SPACE)) == ["t"]


def test_costs_spread_the_overhead_over_evaluations(table):
    # 1 s of non-training wall time over 3 evaluations
    assert table.costs[0].tolist() == pytest.approx([0.3 + 1 / 3, 1.0 + 2 / 3, 4.0])
    assert table.full_cost == pytest.approx(18 * 4.0)


def test_grid_pays_the_whole_grid_and_finds_the_best(table):
    clock = rp.replay(table, "grid", seed=0, budget_s=table.full_cost)
    assert clock.now == pytest.approx(table.full_cost)
    assert clock.trace[-1][1] == 0.0
    assert rp.regret_at(clock.trace, 0.0) == 1.0  # nothing to recommend before the first result


def test_hpo_agent_with_a_perfect_ranking_finds_the_best_in_one_bracket(table):
    scores = table.values[:, -1]
    clock = rp.replay(table, "hpo_agent", seed=0, budget_s=1e9, scores=scores)
    assert clock.trace[-1][1] == 0.0
    # one bracket of 9: 9 × rung 0 + 3 × (rung 1 - rung 0) + 1 × (rung 2 - rung 1), resuming
    first_bracket = 9 * table.costs[0, 0] + 3 * (table.costs[0, 1] - table.costs[0, 0]) + (
        table.costs[0, 2] - table.costs[0, 1])
    assert rp.time_to_reach(clock.trace, 0.0) <= first_bracket + 1e-9
    # then Hyperband's cycle: 3 configs from rung 1 (1 promoted), 1 config at rung 2, and the last
    # 5 configs from rung 0 (two rungs: 5, then 1); 18 configs in all, then done
    c0, c1, c2 = table.costs[0]
    assert clock.now == pytest.approx(first_bracket + (3 * c1 + (c2 - c1)) + c2 + (5 * c0 + (c1 - c0)))
    assert clock.evaluations == 9 + 3 + 1 + 3 + 1 + 1 + 5 + 1


def test_hpo_agent_needs_scores(table):
    with pytest.raises(ValueError, match="scores"):
        rp.replay(table, "hpo_agent", seed=0, budget_s=10.0)


@pytest.mark.parametrize("method", ["random", "tpe", "gp", "tpe_sha"])
def test_optuna_and_random_methods_stop_at_the_budget(table, method):
    clock = rp.replay(table, method, seed=1, budget_s=0.5 * table.full_cost)
    assert 0.5 * table.full_cost <= clock.now <= 0.5 * table.full_cost + 4.0
    assert 0.0 <= clock.trace[-1][1] <= 1.0


def test_pruned_trials_cost_less_than_full_ones(table):
    clock = rp.replay(table, "tpe_sha", seed=0, budget_s=0.5 * table.full_cost)
    assert clock.evaluations > 9  # more evaluations than full trials would allow


def test_unknown_method_is_named():
    with pytest.raises(ValueError, match="unknown method 'bohb'"):
        rp.replay(rp.grid_tables(_frame(), SPACE)["t"], "bohb", 0, 1.0)


def test_summary_ranks_ties_and_speedup():
    runs = {"t": {"gp": {0: [(0.0, 1.0), (10.0, 0.2)]}, "hpo_agent": {0: [(0.0, 1.0), (2.0, 0.2)]},
                  "grid": {0: [(0.0, 1.0), (50.0, 0.5)]}}}
    out = rp.summarise(runs, {"t": 100.0}, fractions=(0.05, 0.2))
    assert out["mean_regret"]["0.05"] == {"gp": 1.0, "hpo_agent": 0.2, "grid": 1.0}
    assert out["average_rank"]["0.05"] == {"gp": 2.5, "hpo_agent": 1.0, "grid": 2.5}
    assert out["average_rank"]["0.2"] == {"gp": 1.5, "hpo_agent": 1.5, "grid": 3.0}
    assert out["speedup_to_reference_final_regret"]["median"] == pytest.approx(5.0)
    shares = out["target_rank_lower_share"]
    assert shares["0.05"]["gp"]["lower"] == 1.0 and shares["0.2"]["gp"]["tied"] == 1.0
    assert set(shares["0.05"]) == {"gp", "grid"}


def test_rank_shares_draw_variants_of_a_data_set_together():
    # hpo_agent ranks first on d and d@n300 (one data set) and last on e: drawn by data set, the
    # two d tasks count as one unit, so hpo_agent's rank is the lower one in about 3 of 4 draws
    # (lower unless only e is drawn), not 7 of 8 as three independent tasks would give.
    def run(best):
        return {m: {0: [(0.0, 1.0), (1.0, 0.0 if m == best else 0.5)]} for m in ("hpo_agent", "gp")}

    runs = {"d": run("hpo_agent"), "d@n300": run("hpo_agent"), "e": run("gp")}
    share = rp.summarise(runs, {t: 10.0 for t in runs}, fractions=(0.5,))["target_rank_lower_share"]["0.5"]["gp"]
    assert 0.65 < share["lower"] < 0.85


def test_replay_benchmark_runs_on_a_slice_of_the_committed_histories(tmp_path, monkeypatch):
    """The benchmark script end to end on one recorded full-grid task (small budget, two seeds in
    two worker processes)."""
    import importlib.util
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    monkeypatch.syspath_prepend(str(root / "benchmarks"))  # its _common, as under `python benchmarks/replay.py`
    spec = importlib.util.spec_from_file_location("replay_bench", root / "benchmarks" / "replay.py")
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, bench)  # workers get _run_one by name, as under `python`
    spec.loader.exec_module(bench)
    out = tmp_path / "replay.json"
    assert bench.main(["--tasks", "iris", "--seeds", "2", "--max-fraction", "0.05", "--jobs", "2",
                       "--methods", "grid,random,tpe,tpe_sha,hpo_agent", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["per_task"]["iris"]["n_configs"] == 729
    regrets = result["summary"]["mean_regret"]["0.05"]
    assert set(regrets) == {"grid", "random", "tpe", "tpe_sha", "hpo_agent"}
    assert all(0.0 <= r <= 1.0 for r in regrets.values())
    assert set(result["per_task"]["iris"]["traces"]["random"]) == {"0", "1"}  # both seeds, from worker processes


def test_hpo_agent_refines_only_after_its_first_bracket(table):
    rng = np.random.default_rng(0)
    scores = rng.normal(size=len(table.configs))
    static = rp.replay(table, "hpo_agent", seed=0, budget_s=1e9, scores=scores, refine=False)
    refined = rp.replay(table, "hpo_agent", seed=0, budget_s=1e9, scores=scores, refine=True)
    first = 13  # evaluations in one bracket of 9 over 3 fidelities (9 + 3 + 1)
    assert refined.trace[:first + 1] == static.trace[:first + 1]
    assert refined.evaluations == static.evaluations  # the same 18 configs, in another order
    assert refined.trace[-1][1] == 0.0
