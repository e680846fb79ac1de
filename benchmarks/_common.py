"""Helpers the benchmark scripts share (they run as ``python benchmarks/NAME.py``, so this
directory is on ``sys.path``)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def hpo_agent_exe() -> str:
    """The ``hpo-agent`` console script of this environment (next to its Python when not on PATH)."""
    return shutil.which("hpo-agent") or str(Path(sys.executable).with_name("hpo-agent"))


ROOT = Path(__file__).resolve().parents[1]


def shipped_learner(fallback: str) -> str:
    """The learner of the packaged meta-model (``fallback`` for a file that does not record one):
    what a script scores when its ``--learner`` is not given."""
    from hpo_agent.agent.metamodel import MetaModel

    return MetaModel.load().describe().get("learner", fallback)


def rel_path(path: str) -> str:
    """``path`` relative to the repository when it lies inside it (what result files record)."""
    p = Path(path).resolve()
    return p.relative_to(ROOT).as_posix() if p.is_relative_to(ROOT) else str(path)


def wins_ties_losses(rows, a: str, b: str, key: str = "test") -> list:
    """``[wins, ties, losses]`` of method ``a`` against ``b`` on ``key`` per task × seed, in each
    row's metric direction (rows of older files carry none: accuracy, maximised); a difference
    within 1e-9 is a tie, and pairs missing either value are skipped."""
    runs = {(r["task"], r["seed"], r["method"]): r for r in rows}
    counts = [0, 0, 0]
    for (task, seed, method), r in runs.items():
        other = runs.get((task, seed, b))
        if method != a or other is None or r.get(key) is None or other.get(key) is None:
            continue
        diff = r[key] - other[key]
        if r.get("direction", "max") == "min":
            diff = -diff
        counts[0 if diff > 1e-9 else (1 if diff >= -1e-9 else 2)] += 1
    return counts


def compress_trace(trace):
    """A replay trace [(seconds, regret), ...] cut to the points where the regret changes (and the
    last), rounded as the result files store them (``replay.py`` and ``refine_ablation.py`` alike, so
    that ties rank alike)."""
    out = []
    for t, r in trace:
        if not out or r != out[-1][1]:
            out.append((round(t, 3), round(r, 5)))
    if trace and out[-1][0] != round(trace[-1][0], 3):
        out.append((round(trace[-1][0], 3), round(trace[-1][1], 5)))
    return out


def recorded_fidelities(rows) -> list:
    """The step counts at which a history table's rows were validated (JSON text in the Parquet)."""
    import json

    steps = rows["fidelity_steps"].iloc[0]
    return [int(s) for s in (json.loads(steps) if isinstance(steps, str) else steps)]


def recorded_config(rows, i: int) -> dict:
    """Row ``i``'s config (its ``param.*`` columns) as plain Python values."""
    from hpo_agent.trainer.history import row_config

    return row_config(rows.loc[i])


def suite_task(variant: str):
    """``variant``'s task as the default suite recorded it (its task options and training-set cap)."""
    from hpo_agent.trainer.build_default import suite_task as task

    try:
        return task(variant)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


def retrain(job) -> list:
    """Retrain ``(variant, [(row, config)], steps, seed)`` as ``collect`` recorded the variant (the
    suite's task options and split, one torch thread; run it in its own process), validating at
    each of ``steps``. One dict per config: row, values, outcome, wall_s."""
    variant, configs, steps, seed = job
    import torch

    torch.set_num_threads(1)
    from hpo_agent.trainer.collect import run_trial

    task = suite_task(variant)
    out = []
    for row, config in configs:
        got = run_trial(task, config, steps, seed, lambda value, step: None)
        out.append({"row": row, "values": got["values"], "outcome": got["outcome"], "wall_s": round(got["wall_time_s"], 1)})
        print(f"{variant} seed {seed} row {row}: {got['outcome']} {got['values']} ({got['wall_time_s']:.0f}s)", flush=True)
    return out
