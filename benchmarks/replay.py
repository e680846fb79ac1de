"""Replay benchmark: grid, random, TPE, GP (BO), TPE + successive-halving pruner and hpo-agent on
recorded full-grid histories, in simulated time (see ``hpo_agent.trainer.replay``).

    python benchmarks/replay.py                       # every full-grid task in histories/default.parquet
    python benchmarks/replay.py --tasks iris --seeds 2 --max-fraction 0.05   # a small slice
    python benchmarks/replay.py --jobs 2              # (task, seed) pairs in 2 worker processes

Writes ``benchmarks/results/replay.json`` (summary, per-task regrets at each budget fraction,
compressed anytime traces) and ``replay.png`` (mean anytime regret per method). hpo-agent's
meta-model is always fitted without the task under test (leave-one-task-out).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from _common import compress_trace, shipped_learner

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def main(argv=None) -> int:
    from hpo_agent.trainer import replay as rp
    from hpo_agent.trainer.fit import histories_space
    from hpo_agent.trainer.history import load_table

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--histories", default=str(ROOT / "histories" / "default.parquet"))
    parser.add_argument("--tasks", default="", help="comma-separated; default: every full-grid task")
    parser.add_argument("--methods", default=",".join(rp.METHODS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max-fraction", type=float, default=0.25, help="budget as a fraction of the grid's cost")
    parser.add_argument("--learner", default="", help="meta-model learner; default: the shipped model's")
    parser.add_argument("--out", default=str(RESULTS / "replay.json"))
    parser.add_argument("--plot", default="", help="PNG path; default: next to --out")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes over (task, seed) pairs")
    args = parser.parse_args(argv)

    frame = load_table(args.histories)
    space = histories_space(frame)
    tables = rp.grid_tables(frame, space)
    tasks = [t for t in args.tasks.split(",") if t] or sorted(tables)
    missing = [t for t in tasks if t not in tables]
    if missing or not tasks:
        print(f"no full-grid histories for {missing or 'any task'}; have {sorted(tables)}", file=sys.stderr)
        return 1
    methods = [m for m in args.methods.split(",") if m]
    learner = args.learner or shipped_learner("forest")
    fractions = [f for f in rp.FRACTIONS if f <= args.max_fraction + 1e-12] or [args.max_fraction]

    runs, per_task, started = {t: {m: {} for m in methods} for t in tasks}, {}, time.perf_counter()
    wall = {t: {m: 0.0 for m in methods} for t in tasks}
    _SHARED.update(frame=frame, tables=tables, methods=methods, learner=learner, max_fraction=args.max_fraction)
    jobs = [(task, seed) for task in tasks for seed in range(args.seeds)]
    if args.jobs > 1:  # (task, seed) pairs are independent: fork workers that inherit the histories
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("fork"),
                                 initializer=_one_thread_torch) as pool:
            results = list(pool.map(_run_one, jobs))
    else:
        results = [_run_one(job) for job in jobs]
    for (task, seed), (traces, seconds) in zip(jobs, results):
        table = tables[task]
        runs[task].update({m: {**runs[task][m], seed: traces[m]} for m in methods})
        for m in methods:
            wall[task][m] += seconds[m]
        print(f"{task} seed {seed}: " + ", ".join(
            f"{m} {rp.regret_at(traces[m], 0.1 * table.full_cost):.3f}" for m in methods), flush=True)
    for task in tasks:
        table = tables[task]
        per_task[task] = {
            "n_configs": len(table.configs), "fidelity_steps": list(table.fidelity_steps),
            "grid_cost_s": table.full_cost, "budget_s": args.max_fraction * table.full_cost,
            "regret": {f"{f:g}": {m: [rp.regret_at(runs[task][m][s], f * table.full_cost) for s in range(args.seeds)]
                                  for m in methods} for f in fractions},
            "method_wall_s": wall[task],
            "traces": {m: {str(s): runs[task][m][s] for s in range(args.seeds)} for m in methods},
        }
    summary = rp.summarise(runs, {t: tables[t].full_cost for t in tasks}, fractions)
    result = {"benchmark": "replay", "histories": str(Path(args.histories).resolve().relative_to(ROOT))
              if Path(args.histories).resolve().is_relative_to(ROOT) else args.histories,
              "tasks": tasks, "methods": methods, "seeds": args.seeds, "learner": learner,
              "max_fraction": args.max_fraction, "summary": summary, "per_task": per_task,
              "cost_model": "recorded training seconds to each fidelity + the trial's other wall time "
                            "shared evenly over its evaluations; repeated configs are paid again",
              "machine": f"{platform.machine()} {platform.system()}, python {platform.python_version()}",
              "benchmark_wall_s": time.perf_counter() - started}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    plot = Path(args.plot) if args.plot else out.with_suffix(".png")
    _plot(runs, {t: tables[t].full_cost for t in tasks}, methods, args.max_fraction, plot)
    print(json.dumps({"mean_regret": summary["mean_regret"], "average_rank": summary["average_rank"],
                      "speedup": summary.get("speedup_to_reference_final_regret", {}).get("median")}, indent=1))
    return 0


_SHARED: dict = {}  # the histories and settings, set before workers fork (not pickled per job)


def _one_thread_torch() -> None:
    try:  # Optuna's GP sampler runs on torch: one thread per worker process
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


def _run_one(job):
    """Every method on one (task, seed): compressed traces and seconds spent per method."""
    from threadpoolctl import threadpool_limits

    # hpo-agent's between-bracket GP factorises matrices of a few hundred rows: BLAS threads only
    # spin against each other (and against the other workers) at that size.
    with threadpool_limits(limits=1):
        return _run_methods(*job)


def _run_methods(task, seed):
    from hpo_agent.trainer import replay as rp

    table, methods = _SHARED["tables"][task], _SHARED["methods"]
    budget = _SHARED["max_fraction"] * table.full_cost
    scores = (rp.loto_scores(_SHARED["frame"], table, learner=_SHARED["learner"], seed=seed)
              if "hpo_agent" in methods else None)
    traces, seconds = {}, {}
    for method in methods:
        t0 = time.perf_counter()
        clock = rp.replay(table, method, seed, budget, scores=scores)
        seconds[method] = time.perf_counter() - t0
        traces[method] = compress_trace(clock.trace)
    return traces, seconds


def _plot(runs, full_costs, methods, max_fraction, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no plot", file=sys.stderr)
        return
    from hpo_agent.trainer.replay import regret_at

    grid = np.geomspace(0.002, max_fraction, 80)
    tasks = sorted(runs)
    fig, axes = plt.subplots(1, len(tasks) + 1, figsize=(4.2 * (len(tasks) + 1), 3.6), sharey=True)
    axes = np.atleast_1d(axes)
    for m in methods:
        all_curves = []
        for ax, task in zip(axes, tasks):
            curves = np.array([[regret_at(tr, f * full_costs[task]) for f in grid] for tr in runs[task][m].values()])
            all_curves.append(curves.mean(0))
            ax.plot(grid * 100, curves.mean(0), label=m)
            ax.set_title(task)
        axes[-1].plot(grid * 100, np.mean(all_curves, 0), label=m)
    axes[-1].set_title("mean over tasks")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("% of the full grid's training time")
    axes[0].set_ylabel("normalised regret")
    axes[-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    raise SystemExit(main())
