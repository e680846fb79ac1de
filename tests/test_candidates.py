import numpy as np

from hpo_agent.agent.candidates import MIN_DISTANCE, clip_depth, propose, rank, select, spread_picks, unit_scaled
from hpo_agent.agent.space import default_space


def test_propose_puts_the_grid_first_and_deduplicates():
    space = default_space()
    configs = propose(space, 100, np.random.default_rng(0))
    assert configs[:729] == space.grid()
    assert len(configs) == 829


def test_rank_is_descending_and_stable():
    configs = [{"a": i} for i in range(4)]
    ranked = rank(configs, np.array([0.1, 0.9, 0.9, 0.5]))
    assert [c.config["a"] for c in ranked] == [1, 2, 3, 0]


def test_select_drops_configs_over_the_memory_budget_and_says_why():
    space = default_space()
    ranked = rank(space.grid()[:6], np.linspace(1, 0, 6))
    estimate = lambda c: 1000 if c["weight_decay"] == 0.0 else 100  # noqa: E731
    chosen, skipped = select(ranked, 3, estimate, budget_bytes=500, headroom=0.2)
    assert all(c.config["weight_decay"] != 0.0 for c in chosen) and len(chosen) == 3
    assert skipped and skipped[0]["estimated_bytes"] == 1000 and skipped[0]["limit_bytes"] == 400
    assert "memory" in skipped[0]["reason"]


def test_select_skips_near_duplicates_when_asked():
    space = default_space()
    grid = space.grid()
    # grid[0..2] differ only in weight decay: 0, 0.01 (a tenth of its range away), 0.1 (the whole range)
    ranked = rank(grid[:3] + [grid[-1]], np.array([0.9, 0.8, 0.7, 0.1]))
    chosen, _ = select(ranked, 3, space=space, min_distance=0.5)
    assert [c.config for c in chosen] == [grid[0], grid[2], grid[-1]]
    x = unit_scaled(space, [grid[0], grid[-1]])
    assert x.shape == (2, len(space.feature_names()))


def test_spread_picks_are_the_configs_select_chooses():
    # evaluate's spread@k must score what tune verifies: the same rule, on random scores over the grid
    space = default_space()
    grid = space.grid()
    rng = np.random.default_rng(3)
    for _ in range(3):
        scores = rng.random(len(grid))
        chosen, _ = select(rank(grid, scores), 9, space=space, min_distance=MIN_DISTANCE)
        picks = spread_picks(unit_scaled(space, grid), scores, 9)
        assert [grid[i] for i in picks] == [c.config for c in chosen]


def test_clip_depth_caps_num_layers_and_merges_what_becomes_the_same_model():
    space = default_space()
    base = {"learning_rate": 1e-3, "batch_size": 32, "dropout": 0.1, "optimizer": "adam", "weight_decay": 0.0}
    configs = [dict(base, num_layers=n) for n in (24, 3, 6, 12)]
    clipped = clip_depth(configs, space, 6)
    assert [c["num_layers"] for c in clipped] == [6, 3]  # 24, 6 and 12 all build the 6-layer model
    assert clip_depth(configs, space, None) == configs
    assert all(space.validate(c) for c in clipped)


def test_tasks_say_how_deep_their_model_can_go():
    from hpo_agent.agent.tasks import get_task

    assert get_task("digits").max_num_layers() is None  # the small CNN builds any depth
