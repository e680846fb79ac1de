import json

import numpy as np
import pytest

from hpo_agent.agent.space import Param, SearchSpace, config_key, default_space


def test_default_space_grid_is_the_seed_grid():
    space = default_space()
    grid = space.grid()
    assert len(grid) == 729
    assert {c["optimizer"] for c in grid} == {"adam", "sgd", "rmsprop"}
    assert sorted({c["batch_size"] for c in grid}) == [16, 32, 64]
    assert sorted({c["num_layers"] for c in grid}) == [6, 12, 24]
    assert grid[0] == {"learning_rate": 1e-3, "batch_size": 16, "num_layers": 6, "dropout": 0.1,
                       "optimizer": "adam", "weight_decay": 0.0}


def test_encoding_layout_and_values():
    space = default_space()
    names = space.feature_names()
    assert names == ["log10_learning_rate", "log10_batch_size", "num_layers", "dropout",
                     "optimizer=adam", "optimizer=sgd", "optimizer=rmsprop", "weight_decay"]
    x = space.encode([{"learning_rate": 1e-3, "batch_size": 32, "num_layers": 6, "dropout": 0.1,
                       "optimizer": "sgd", "weight_decay": 0.01}])
    assert x.dtype == np.float32 and x.shape == (1, 8)
    np.testing.assert_allclose(x[0], [-3, np.log10(32), 6, 0.1, 0, 1, 0, 0.01], rtol=1e-6)


def test_sampling_stays_in_range_and_is_reproducible():
    space = default_space()
    a = space.sample(np.random.default_rng(1), 500)
    b = space.sample(np.random.default_rng(1), 500)
    assert a == b
    for config in a:
        space.validate(config)
        assert isinstance(config["batch_size"], int)
    lrs = np.log10([c["learning_rate"] for c in a])
    assert lrs.min() < -4 and lrs.max() > -2  # log-uniform covers the decades


def test_space_round_trips_through_json():
    space = default_space()
    again = SearchSpace.from_dict(json.loads(space.to_json()))
    assert again == space


@pytest.mark.parametrize("kwargs,message", [
    (dict(name="x", type="float", low=0.0, high=1.0, log=True), "must be > 0"),
    (dict(name="x", type="float", low=2.0, high=1.0), "low=2.0 > high=1.0"),
    (dict(name="x", type="cat"), "must be one of"),
    (dict(name="x", type="categorical"), "non-empty"),
    (dict(name="x", type="int", low=1, high=4, grid=(8,)), "outside"),
])
def test_param_errors_name_the_rule(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Param(**kwargs)


def test_validate_rejects_missing_and_bad_values():
    space = default_space()
    config = space.grid()[0]
    with pytest.raises(ValueError, match="missing"):
        space.validate({k: v for k, v in config.items() if k != "dropout"})
    with pytest.raises(ValueError, match="not one of"):
        space.validate(dict(config, optimizer="adagrad"))


def test_custom_space_and_config_key():
    space = SearchSpace((Param("depth", "int", 1, 8), Param("alpha", "float", 1e-4, 1.0, log=True)))
    assert space.grid() == [{"depth": d, "alpha": a} for d in (1, 4, 8) for a in (1e-4, 1e-2, 1.0)]
    assert config_key({"b": 0.1, "a": 3}) == "a=3,b=0.1"
