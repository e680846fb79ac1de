"""Training memory, estimated before anything is allocated: pure arithmetic, no torch.

    total = weights + gradients + optimizer state + activations x batch + runtime overhead

Published estimators reach ~15 % mean error (DNNMem) and only model-specific ones do better, so
this is a first filter: drop configurations that clearly cannot fit, keep 10-20 % headroom,
and let a 1-3 step probe (and :func:`is_oom` on failure) settle the borderline ones.
The per-sample activation bytes come from the model code, which knows its layers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Dict, Optional

# Optimizer state in units of the weights: Adam/AdamW keep two moments (exp_avg, exp_avg_sq),
# RMSprop one (square_avg), SGD none, or one momentum buffer when momentum > 0.
OPTIMIZER_STATE_MULTIPLIERS: Dict[str, int] = {"adam": 2, "adamw": 2, "rmsprop": 1, "sgd": 0}

# Resident memory of a CPU PyTorch process that trains a tiny model, before the model's own
# tensors (torch imported, a small task's data loaded, autograd and allocator caches warm).
# Calibrated by benchmarks/memory.py (results/memory.json, 25 combinations, least squares on
# relative error): 845 MiB on x86-64 with the CUDA build of torch 2.14.1 used on the CPU and
# Python 3.11 (`import torch` alone is 512 MiB). A CPU-only torch wheel needs less.
CPU_TORCH_OVERHEAD_BYTES = 845 * 2**20
# Peak activation memory per sample relative to the analytic figures (same calibration): eager
# PyTorch on the CPU keeps more than the formulas count (fp32 softmax/dropout outputs and masks,
# GELU inputs, and gradient buffers that coexist with activations during backward).
# "transformer": :func:`transformer_activation_bytes`; "leaf": a sum of layer outputs (CNNs, MLPs).
ACTIVATION_CALIBRATION: Dict[str, float] = {"transformer": 1.80, "leaf": 1.28}
# Estimates, not measurements: the CUDA context (plus cuBLAS/cuDNN workspaces) on a card's own
# memory, and on a Jetson torch's libraries plus that context, which share the board's DRAM.
CUDA_CONTEXT_BYTES = 512 * 2**20
JETSON_TORCH_OVERHEAD_BYTES = 1536 * 2**20

_OVERHEAD_BY_KIND = {"cpu": CPU_TORCH_OVERHEAD_BYTES, "cuda": CUDA_CONTEXT_BYTES,
                     "jetson": JETSON_TORCH_OVERHEAD_BYTES}


def default_overhead_bytes(kind: str = "cpu") -> int:
    """The runtime overhead constant for a device kind (``"cpu"``, ``"cuda"``, ``"jetson"``)."""
    if kind not in _OVERHEAD_BY_KIND:
        raise ValueError(f"device kind is {kind!r}, but must be one of cpu, cuda, jetson")
    return _OVERHEAD_BY_KIND[kind]


def calibrated_activation_bytes(raw_bytes: float, model: str = "leaf") -> float:
    """Analytic activation bytes scaled by the measured factor for ``model`` ("transformer" or "leaf")."""
    if model not in ACTIVATION_CALIBRATION:
        raise ValueError(f"activation model is {model!r}, but must be one of {', '.join(ACTIVATION_CALIBRATION)}")
    return float(raw_bytes) * ACTIVATION_CALIBRATION[model]


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes needed to train one configuration, by part; ``total_bytes`` is their sum."""

    weights_bytes: int
    gradients_bytes: int
    optimizer_bytes: int
    activations_bytes: int
    overhead_bytes: int
    total_bytes: int

    def to_dict(self) -> Dict[str, int]:
        """Plain JSON-ready dict."""
        return asdict(self)


def _optimizer_multiplier(optimizer: str, momentum: float) -> int:
    key = str(optimizer).strip().lower()
    if key not in OPTIMIZER_STATE_MULTIPLIERS:
        raise ValueError(f"optimizer is {optimizer!r}, but must be one of "
                         f"{', '.join(OPTIMIZER_STATE_MULTIPLIERS)}")
    if key == "sgd" and momentum:
        return 1  # one momentum buffer per parameter
    return OPTIMIZER_STATE_MULTIPLIERS[key]


def _check(name: str, value: float, minimum: float) -> None:
    if value is None or not math.isfinite(value) or value < minimum:
        raise ValueError(f"{name} is {value}, but must be >= {minimum}")


def estimate_training_memory(n_params: int, optimizer: str, batch_size: int,
                             activation_bytes_per_sample: float, param_bytes: int = 4,
                             overhead_bytes: Optional[int] = None, *,
                             momentum: float = 0.0) -> MemoryEstimate:
    """Estimate the memory to train a model of ``n_params`` parameters at ``batch_size``.

    Args:
        n_params: trainable parameters (frozen ones need weights only: add them to overhead).
        optimizer: ``"adam"``, ``"adamw"`` (2x weights of state), ``"rmsprop"`` (1x) or
            ``"sgd"`` (0x, or 1x with ``momentum`` > 0); case-insensitive.
        batch_size: samples per step.
        activation_bytes_per_sample: activations kept for the backward pass, per sample (see
            :func:`transformer_activation_bytes` for transformers).
        param_bytes: bytes per parameter value (4 for fp32); gradients and optimizer state are
            taken to be of the same type.
        overhead_bytes: runtime and framework memory; :data:`CPU_TORCH_OVERHEAD_BYTES` when None
            (use :func:`default_overhead_bytes` for other devices).
        momentum: SGD momentum; any non-zero value adds a momentum buffer.

    Raises:
        ValueError: an unknown optimizer or a negative figure, naming the value and the rule.
    """
    _check("n_params", n_params, 0)
    _check("batch_size", batch_size, 0)
    _check("activation_bytes_per_sample", activation_bytes_per_sample, 0)
    _check("param_bytes", param_bytes, 1)
    multiplier = _optimizer_multiplier(optimizer, momentum)
    overhead = CPU_TORCH_OVERHEAD_BYTES if overhead_bytes is None else int(overhead_bytes)
    _check("overhead_bytes", overhead, 0)
    weights = int(n_params) * int(param_bytes)
    activations = int(math.ceil(batch_size * activation_bytes_per_sample))
    parts = (weights, weights, multiplier * weights, activations, overhead)
    return MemoryEstimate(*parts, total_bytes=sum(parts))


def fits(estimate: MemoryEstimate, budget_bytes: int, headroom: float = 0.15) -> bool:
    """True when ``estimate`` fits ``budget_bytes`` with ``headroom`` (a fraction of the budget,
    0 <= headroom < 1) left free: ``total <= budget * (1 - headroom)``."""
    if not 0 <= headroom < 1:
        raise ValueError(f"headroom is {headroom}, but must be >= 0 and < 1")
    return estimate.total_bytes <= budget_bytes * (1.0 - headroom)


def max_batch_that_fits(n_params: int, optimizer: str, activation_bytes_per_sample: float,
                        budget_bytes: int, param_bytes: int = 4,
                        overhead_bytes: Optional[int] = None, headroom: float = 0.15, *,
                        momentum: float = 0.0, limit: Optional[int] = None) -> int:
    """The largest batch size whose estimate :func:`fits` the budget; 0 when not even one does.

    Memory grows linearly with the batch, so this is solved directly, not searched. ``limit``
    caps the answer (e.g. the dataset size).

    Raises:
        ValueError: ``activation_bytes_per_sample`` of 0 (every batch would fit), or as
            :func:`estimate_training_memory`.
    """
    if not activation_bytes_per_sample or activation_bytes_per_sample <= 0:
        raise ValueError(f"activation_bytes_per_sample is {activation_bytes_per_sample}, "
                         "but must be > 0 to bound the batch size")
    fixed = estimate_training_memory(n_params, optimizer, 0, 0, param_bytes, overhead_bytes,
                                     momentum=momentum)
    room = budget_bytes * (1.0 - headroom) - fixed.total_bytes
    if not fits(fixed, budget_bytes, headroom) or room < activation_bytes_per_sample:
        return 0
    batch = int(room // activation_bytes_per_sample)
    if limit is not None:
        batch = min(batch, int(limit))

    def estimate(b: int) -> MemoryEstimate:
        return estimate_training_memory(n_params, optimizer, b, activation_bytes_per_sample,
                                        param_bytes, overhead_bytes, momentum=momentum)

    while batch > 0 and not fits(estimate(batch), budget_bytes, headroom):
        batch -= 1  # float rounding of the ceil() in activations: at most a step or two
    return batch


def transformer_activation_bytes(seq_len: int, hidden: int, n_heads: int, n_layers: int,
                                 bytes_per_value: int = 4) -> int:
    """Activation memory of a transformer encoder/decoder stack, per sample, in bytes.

    Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer Models"
    (eq. 1): one layer keeps ``s*b*h*(34 + 5*a*s/h)`` bytes of activations with 16-bit values
    and 1-byte dropout masks, without tensor or sequence parallelism (s: sequence length,
    b: batch, h: hidden size, a: attention heads). Here b = 1 and the sum runs over
    ``n_layers``; the figure is scaled by ``bytes_per_value / 2`` (so fp32 doubles it, which
    slightly overcounts the masks). Embeddings, the output head and the loss's logits are not
    included: add them from the model code.
    """
    for name, value in (("seq_len", seq_len), ("hidden", hidden), ("n_heads", n_heads),
                        ("n_layers", n_layers), ("bytes_per_value", bytes_per_value)):
        _check(name, value, 1)
    per_layer_16bit = seq_len * hidden * (34 + 5 * n_heads * seq_len / hidden)
    return int(math.ceil(per_layer_16bit * n_layers * bytes_per_value / 2))
