"""Decoupled weight decay: what ``weight_decay`` means for every optimizer."""

import pytest
import torch

from hpo_agent.agent.training import OPTIMIZERS, apply_weight_decay, make_optimizer


@pytest.mark.parametrize("name", ["adam", "sgd", "rmsprop"])
def test_weight_decay_is_decoupled_and_skips_biases(name):
    layer = torch.nn.Linear(3, 2)
    weight0, bias0 = layer.weight.detach().clone(), layer.bias.detach().clone()
    opt = make_optimizer(name, layer.parameters(), learning_rate=0.1, weight_decay=0.5)
    # A zero gradient: any change to the weights is the decay alone.
    (0.0 * layer(torch.ones(1, 3)).sum()).backward()
    apply_weight_decay(opt)
    opt.step()
    assert torch.allclose(layer.weight, weight0 * (1 - 0.1 * 0.5))
    assert torch.equal(layer.bias, bias0)


def test_zero_weight_decay_leaves_weights_alone():
    layer = torch.nn.Linear(3, 2)
    weight0 = layer.weight.detach().clone()
    opt = make_optimizer("adam", layer.parameters(), learning_rate=0.1, weight_decay=0.0)
    apply_weight_decay(opt)
    assert torch.equal(layer.weight, weight0)


def test_unknown_optimizer_names_the_choices():
    with pytest.raises(ValueError, match="adagrad.*" + ", ".join(OPTIMIZERS)):
        make_optimizer("adagrad", torch.nn.Linear(2, 2).parameters(), 0.1, 0.0)
