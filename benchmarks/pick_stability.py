"""How stable are the held-out figures when the *training* tasks change a little?

    python benchmarks/pick_stability.py [--histories histories/default.parquet] [--learner gbm_balanced]

``hpo-agent evaluate`` fits the learner once per held-out data set, on all the others. This
script refits it once more for every other data set left out as well (a jackknife over the
training data sets) and records, for each held-out task, regret@1, regret@5 and the Spearman
correlation of every such fit beside the full fit's, and whether the top pick is the same
config. If a held-out task's top-1 regret swings widely when one unrelated data set leaves the
training rows, while its Spearman barely moves, the mean regret@1 over a dozen tasks is mostly
the noise of one arg-max, not a property of the learner. Writes
``benchmarks/results/pick_stability.json``; changes nothing that ships.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from datetime import date
from pathlib import Path

from _common import rel_path, shipped_learner

ROOT = Path(__file__).resolve().parents[1]


def task_figures(data, scores) -> dict:
    """regret@1, regret@5, Spearman and the top pick's row of each task in ``scores``."""
    import numpy as np

    from hpo_agent.trainer.loto import spearman
    from hpo_agent.trainer.regret import best_of_k_regret

    out = {}
    for task, s in scores.items():
        test = data.tasks == task
        direction = data.directions[task]
        out[task] = {"regret@1": best_of_k_regret(data.values[test], s, 1, direction),
                     "regret@5": best_of_k_regret(data.values[test], s, 5, direction),
                     "spearman": spearman(s, data.y[test]), "top_row": int(np.argmax(s))}
    return out


def spread(values) -> dict:
    values = [v for v in values if v == v]  # drop NaN
    if not values:
        return {}
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def main(argv=None) -> int:
    import numpy as np

    from hpo_agent.trainer.fit import build_dataset
    from hpo_agent.trainer.history import load_table
    from hpo_agent.trainer.learners import task_group
    from hpo_agent.trainer.loto import held_out_scores, subset

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--histories", default=str(ROOT / "histories" / "default.parquet"))
    parser.add_argument("--learner", default="", help="default: the shipped model's learner")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "pick_stability.json"))
    args = parser.parse_args(argv)
    args.learner = args.learner or shipped_learner("gbm")

    started = time.perf_counter()
    data = build_dataset(load_table(args.histories))
    groups = np.array([task_group(t) for t in data.tasks])
    full = task_figures(data, held_out_scores(data, args.learner))
    # jackknife[task][left-out group] = the task's figures from fits without that group too
    jackknife = {task: {} for task in full}
    for other in sorted(set(groups)):
        smaller = subset(data, groups != other)
        for task, figures in task_figures(smaller, held_out_scores(smaller, args.learner)).items():
            jackknife[task][other] = figures

    per_task = {}
    for task, base in full.items():
        fits = jackknife[task].values()
        top_rows = [f["top_row"] for f in fits]
        per_task[task] = {"full": {k: v for k, v in base.items() if k != "top_row"},
                          "fits": len(top_rows),
                          "top_pick_changed": sum(r != base["top_row"] for r in top_rows),
                          **{k: spread([f[k] for f in fits]) for k in ("regret@1", "regret@5", "spearman")},
                          "by_left_out": {g: {k: v for k, v in f.items() if k != "top_row"}
                                          for g, f in jackknife[task].items()}}

    def mean_over_tasks(key: str, stat: str) -> float:
        return float(np.nanmean([p[key].get(stat, np.nan) if stat else p["full"][key] for p in per_task.values()]))

    summary = {key: {"full": mean_over_tasks(key, ""),
                     "mean of per-task min": mean_over_tasks(key, "min"),
                     "mean of per-task max": mean_over_tasks(key, "max")}
               for key in ("regret@1", "regret@5", "spearman")}
    summary["top pick changed, share of fits"] = (sum(p["top_pick_changed"] for p in per_task.values())
                                                 / max(1, sum(p["fits"] for p in per_task.values())))
    out = {"benchmark": "pick_stability", "learner": args.learner, "histories": rel_path(args.histories),
           "date": date.today().isoformat(), "seconds": round(time.perf_counter() - started, 1),
           "machine": f"{platform.machine()} {platform.system()}, python {platform.python_version()}",
           "summary": summary, "per_task": per_task}
    Path(args.out).write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"{args.learner}: per held-out task, over fits that also leave out one other data set")
    print(f"{'task':24s} {'regret@1 full [min-max]':>26s} {'regret@5 full [min-max]':>26s} "
          f"{'Spearman full [min-max]':>26s} {'top changed':>12s}")
    for task, p in sorted(per_task.items()):
        nan = float("nan")
        cells = [f"{p['full'][k]:.3f} [{p[k].get('min', nan):.3f}-{p[k].get('max', nan):.3f}]"
                 for k in ("regret@1", "regret@5", "spearman")]
        print(f"{task:24s} " + " ".join(f"{c:>26s}" for c in cells) + f" {p['top_pick_changed']:>5d}/{p['fits']}")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
