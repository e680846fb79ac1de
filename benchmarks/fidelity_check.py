"""Do short runs rank configs as longer ones would? Retrain a spread of a task's recorded configs
to a longer fidelity and compare.

    python benchmarks/fidelity_check.py [--task sst2_minilm@n4000] [--configs 12] [--steps 8,24,96] [--jobs 2]

The histories record each config at a few short fidelities (each suite entry's ``fidelity_steps`` in
``trainer/build_default.py``; text tasks began at 8 and 24 steps and are being deepened to 96), and the
meta-model learns from the value at the last one; ``tune`` then trains its picks far longer. This
takes ``--configs`` of the task's recorded configs, evenly spread over their recorded ranks (the
best included), retrains each from scratch exactly as ``collect`` recorded it (the default
suite's task options and training-set cap, training seed 0, one torch thread per process) with
validation at every step count in ``--steps`` (default: the recorded fidelities, then 4x the last),
and reports: whether the re-run reproduces the
recorded value at the recorded fidelity, the Spearman correlation between the recorded ranking
and the ranking at the longest fidelity, and the normalised regret, at the longest fidelity, of
the config the short runs rank first (over the configs retrained).

Give ``--steps`` the recorded fidelities first: training reseeds dropout at the start of each
stretch between validations (``agent/training.py``, so that a resumed rung replays exactly), so a
run validated at 20 and 60 steps is not the same trajectory as one validated only at 60.
Writes ``benchmarks/results/fidelity_check_<task>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from _common import ROOT, recorded_config, recorded_fidelities, retrain


def spread(values: np.ndarray, n: int, direction: str) -> list:
    """Indices of ``n`` configs evenly spaced over the recorded ranking, the best first."""
    order = np.argsort(values if direction == "min" else -values, kind="stable")
    return [int(order[i]) for i in np.unique(np.round(np.linspace(0, len(order) - 1, n)).astype(int))]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", default="sst2_minilm@n4000")
    parser.add_argument("--histories", default=str(ROOT / "histories" / "default.parquet"))
    parser.add_argument("--configs", type=int, default=12)
    parser.add_argument("--steps", default=None, help="cumulative training steps with a validation each "
                        "(default: the recorded fidelities, then 4x the last)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    import pandas as pd
    from scipy.stats import spearmanr

    from hpo_agent.trainer.regret import normalised_regrets

    t0 = time.monotonic()
    rows = pd.read_parquet(args.histories)
    rows = rows[(rows["task"] == args.task) & (rows["outcome"] == "complete")].reset_index(drop=True)
    if rows.empty:
        raise SystemExit(f"no finished trials of '{args.task}' in {args.histories}")
    direction = rows["direction"].iloc[0]
    recorded_steps = recorded_fidelities(rows)
    steps = [int(s) for s in args.steps.split(",")] if args.steps else [*recorded_steps, 4 * recorded_steps[-1]]
    recorded = rows["value"].to_numpy(dtype=float)
    chosen = spread(recorded, args.configs, direction)
    configs = [(i, recorded_config(rows, i)) for i in chosen]
    jobs = [(args.task, configs[j::args.jobs], steps, 0) for j in range(args.jobs)]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        runs = {r["row"]: r for part in pool.map(retrain, jobs) for r in part}
    ok = [i for i in chosen if runs[i]["outcome"] == "complete" and len(runs[i]["values"]) == len(steps)]
    short = recorded[ok]
    long = np.array([runs[i]["values"][-1] for i in ok], dtype=float)
    first = int(np.argmax(short) if direction == "max" else np.argmin(short))
    same_fidelity = recorded_steps[-1] in steps
    result = {
        "benchmark": "fidelity_check", "task": args.task, "direction": direction, "metric": rows["metric"].iloc[0],
        "recorded_steps": recorded_steps, "retrained_steps": steps, "configs_recorded": len(rows),
        "configs": [{"row": i, "config": dict(c), "recorded": float(recorded[i]), "values": runs[i]["values"],
                     "outcome": runs[i]["outcome"], "wall_s": runs[i]["wall_s"]} for i, c in configs],
        "spearman_recorded_vs_longest": float(spearmanr(short, long).statistic),
        "regret_at_longest_of_short_best": float(normalised_regrets(long, direction)[first]),
        "short_best_row": ok[first], "longest_best_row": ok[int(np.argmax(long) if direction == "max" else np.argmin(long))],
        "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPUs, python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"), "wall_s": round(time.monotonic() - t0, 1),
    }
    if same_fidelity:  # the same config, seed and split: does the re-run land where the history did?
        k = steps.index(recorded_steps[-1])
        again = np.array([runs[i]["values"][k] for i in ok], dtype=float)
        result["rerun_max_abs_diff_at_recorded"] = float(np.max(np.abs(again - short)))
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"fidelity_check_{args.task.replace('@', '_')}.json")
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "configs"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
