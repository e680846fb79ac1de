"""Memory estimation, checked against numbers worked by hand."""

from __future__ import annotations

import pytest

from hpo_agent.devices import (
    CPU_TORCH_OVERHEAD_BYTES,
    MemoryEstimate,
    default_overhead_bytes,
    estimate_training_memory,
    fits,
    max_batch_that_fits,
    transformer_activation_bytes,
)


def test_adam_by_hand():
    # 1M fp32 parameters: weights 4 MB, gradients 4 MB, Adam's two moments 8 MB;
    # 32 samples x 10 kB of activations = 320 kB; no overhead.
    est = estimate_training_memory(1_000_000, "adam", 32, 10_000, overhead_bytes=0)
    assert est == MemoryEstimate(weights_bytes=4_000_000, gradients_bytes=4_000_000,
                                 optimizer_bytes=8_000_000, activations_bytes=320_000,
                                 overhead_bytes=0, total_bytes=16_320_000)
    assert est.to_dict()["total_bytes"] == 16_320_000


@pytest.mark.parametrize("optimizer, momentum, state", [
    ("AdamW", 0.0, 2), ("RMSprop", 0.0, 1), ("sgd", 0.0, 0), ("SGD", 0.9, 1),
])
def test_optimizer_state(optimizer, momentum, state):
    est = estimate_training_memory(1000, optimizer, 1, 0, param_bytes=2, overhead_bytes=0,
                                   momentum=momentum)
    assert est.weights_bytes == 2000 and est.gradients_bytes == 2000
    assert est.optimizer_bytes == state * 2000


def test_default_overhead_is_the_cpu_torch_figure():
    est = estimate_training_memory(0, "sgd", 1, 0)
    assert est.overhead_bytes == CPU_TORCH_OVERHEAD_BYTES == default_overhead_bytes("cpu")
    assert default_overhead_bytes("jetson") > default_overhead_bytes("cuda") > 0
    with pytest.raises(ValueError, match="device kind is 'tpu'"):
        default_overhead_bytes("tpu")


def test_activations_round_up():
    assert estimate_training_memory(0, "sgd", 3, 0.5, overhead_bytes=0).activations_bytes == 2


def test_bad_inputs_name_the_value_and_the_rule():
    with pytest.raises(ValueError, match="optimizer is 'lamb', but must be one of adam, adamw, "
                                         "rmsprop, sgd"):
        estimate_training_memory(1, "lamb", 1, 1)
    with pytest.raises(ValueError, match="batch_size is -1, but must be >= 0"):
        estimate_training_memory(1, "adam", -1, 1)
    with pytest.raises(ValueError, match="n_params"):
        estimate_training_memory(-5, "adam", 1, 1)


def test_fits_keeps_headroom():
    est = estimate_training_memory(1_000_000, "adam", 32, 10_000, overhead_bytes=0)  # 16.32 MB
    assert fits(est, 19_200_000)          # 19.2 MB x 0.85 = 16.32 MB: exactly fits
    assert not fits(est, 19_100_000)
    assert fits(est, 16_320_000, headroom=0)
    with pytest.raises(ValueError, match="headroom is 1"):
        fits(est, 1, headroom=1)


def test_max_batch_by_hand():
    # Budget 100 MB, 15 % headroom -> 85 MB usable; fixed = 16 MB (1M params, Adam) + 10 MB
    # overhead = 26 MB; 59 MB left / 1 MB per sample = 59.
    args = dict(n_params=1_000_000, optimizer="adam", activation_bytes_per_sample=1_000_000,
                budget_bytes=100_000_000, overhead_bytes=10_000_000)
    assert max_batch_that_fits(**args) == 59
    assert max_batch_that_fits(**args, limit=32) == 32
    est59 = estimate_training_memory(1_000_000, "adam", 59, 1_000_000, overhead_bytes=10_000_000)
    est60 = estimate_training_memory(1_000_000, "adam", 60, 1_000_000, overhead_bytes=10_000_000)
    assert fits(est59, 100_000_000) and not fits(est60, 100_000_000)
    assert max_batch_that_fits(**dict(args, budget_bytes=30_000_000)) == 0  # fixed part too big


def test_max_batch_needs_activations():
    with pytest.raises(ValueError, match="activation_bytes_per_sample is 0"):
        max_batch_that_fits(1, "adam", 0, 10**9)


def test_transformer_activation_formula_by_hand():
    # s=128, h=128, a=2, L=2 at 16 bits: per layer s*h*(34 + 5*a*s/h) = 16384 * 44 = 720896.
    assert transformer_activation_bytes(128, 128, 2, 2, bytes_per_value=2) == 2 * 720_896
    assert transformer_activation_bytes(128, 128, 2, 2) == 4 * 720_896  # fp32 doubles it
    # BERT-base, s=512, fp16: 512*768*(34 + 5*12*512/768) per layer = 512*768*74 = 29,097,984.
    assert transformer_activation_bytes(512, 768, 12, 1, bytes_per_value=2) == 29_097_984
    with pytest.raises(ValueError, match="n_heads is 0"):
        transformer_activation_bytes(128, 128, 0, 2)
