"""Signal or noise? Retrain a held-out task's best recorded configs and the meta-model's picks
with other training seeds.

    python benchmarks/repeat_seeds.py [--task cifar10] [--seeds 1,2] [--top 6] [--k 5] [--learner L] [--jobs 2]

The histories record each config once, with training seed 0. Where ``hpo-agent evaluate``
reports a large regret on a task, this asks whether the recorded best is robustly best or a lucky
draw: it takes the task's ``--top`` configs by recorded value and the ``--k`` configs that the
``--learner`` (default: the shipped model's), fitted without the task's group, would have ``tune`` verify
(``candidates.spread_picks``), retrains each with every seed in ``--seeds`` at the recorded
fidelities (the same data split, one torch thread, as ``collect`` does), and reports each
config's values and the normalised regret of the best pick with and without the repeats.
Writes ``benchmarks/results/repeat_seeds_<task>.json``; one process per seed (``--jobs``).
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


def choose(histories: str, task: str, top: int, k: int, learner: str):
    """The task's rows, the indices of its ``top`` recorded configs and of ``learner``'s ``k`` spread picks."""
    import pandas as pd

    from hpo_agent.agent.candidates import spread_picks
    from hpo_agent.trainer.evaluate import _config_x
    from hpo_agent.trainer.fit import build_dataset
    from hpo_agent.trainer.learners import fit_learner, one_thread, task_group

    frame = pd.read_parquet(histories)
    data = build_dataset(frame)
    test = data.tasks == task
    train = np.array([task_group(t) != task_group(task) for t in data.tasks])
    with one_thread():
        scores = fit_learner(learner, data.x[train], data.y[train], data.tasks[train], 0,
                             feature_names=data.feature_names).predict(data.x[test])
    rows = frame[frame["task"] == task].reset_index(drop=True)
    if not np.allclose(rows["value"].to_numpy(dtype=float), data.values[test]):
        raise SystemExit(f"{task}: the history rows and the fitted dataset disagree (failed trials?)")
    sign = 1.0 if data.directions[task] == "max" else -1.0
    best = [int(i) for i in np.argsort(-sign * rows["value"].to_numpy(dtype=float), kind="stable")[:top]]
    picks = [int(i) for i in spread_picks(_config_x(data, np.flatnonzero(test)), scores, k)]
    return rows, best, picks, data.directions[task]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", default="cifar10")
    parser.add_argument("--histories", default=str(ROOT / "histories" / "default.parquet"))
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--top", type=int, default=6)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--learner", default="", help="meta-model learner; default: the shipped model's")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    t0 = time.monotonic()
    if not args.learner:
        from hpo_agent.agent.metamodel import MetaModel

        args.learner = MetaModel.load().describe()["learner"]
    rows, best, picks, direction = choose(args.histories, args.task, args.top, args.k, args.learner)
    chosen = sorted(set(best) | set(picks))
    configs = [(i, recorded_config(rows, i)) for i in chosen]
    fidelities = recorded_fidelities(rows)
    seeds = [int(s) for s in args.seeds.split(",")]
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        parts = pool.map(retrain, [(args.task, configs, fidelities, s) for s in seeds])
        runs = [dict(r, seed=s) for s, part in zip(seeds, parts) for r in part]
    recorded = rows["value"].to_numpy(dtype=float)
    mean = {i: float(np.mean([recorded[i]] + [r["values"][-1] for r in runs if r["row"] == i and r["values"]]))
            for i in chosen}
    from hpo_agent.trainer.regret import normalised_regrets

    with_means = recorded.copy()
    with_means[chosen] = [mean[i] for i in chosen]

    def regret(values: np.ndarray) -> float:  # of the best pick, as `evaluate` scores best-of-k
        return float(np.min(normalised_regrets(values, direction)[picks]))

    result = {
        "benchmark": "repeat_seeds", "command": " ".join(["python benchmarks/repeat_seeds.py", *(sys.argv[1:] if argv is None else argv)]),
        "task": args.task, "direction": direction, "fidelity_steps": fidelities, "seeds_recorded": [0],
        "seeds_repeated": seeds, "grid_best_rows": best, "learner": args.learner, "spread_picks": picks,
        "configs": [{"row": i, "config": dict(c), "recorded": float(recorded[i]),
                     "repeats": [r["values"][-1] if r["values"] else None for r in runs if r["row"] == i],
                     "mean": mean[i], "grid_best": i in best, "pick": i in picks} for i, c in configs],
        # the reran configs' values replaced by their means over seeds; the others stay as recorded
        "regret_recorded": regret(recorded),
        "regret_mean_over_seeds": regret(with_means),
        "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPUs, python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"), "wall_s": round(time.monotonic() - t0, 1),
    }
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"repeat_seeds_{args.task.replace('@', '_')}.json")
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "configs"}, indent=1))
    for c in result["configs"]:
        print(c["row"], f"recorded {c['recorded']:.3f}", "repeats", c["repeats"], f"mean {c['mean']:.3f}",
              "grid-best" if c["grid_best"] else "", "pick" if c["pick"] else "")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
