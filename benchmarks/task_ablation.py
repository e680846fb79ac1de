"""What one task's histories do to the other tasks' leave-one-task-out figures.

    python benchmarks/task_ablation.py --task friedman1

Runs the leave-one-task-out evaluation of ``hpo-agent evaluate`` for every learner twice on the
committed histories: with all of them, and without ``--task``'s rows. Each side also names the
learner that ``fit`` would ship (``trainer/loto.py::choose_learner``). Means
are over the tasks both sides hold out, so the added task's own figures do not enter the
comparison; they are reported beside it. Writes ``benchmarks/results/ablation_<task>.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
from _common import rel_path

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("regret@1", "regret@5", "spread@5")


def compare(frame, task: str) -> dict:
    """Leave-one-task-out per learner with and without ``task``'s rows (pure but for the fits)."""
    from hpo_agent.trainer.evaluate import evaluate_loto
    from hpo_agent.trainer.learners import LEARNERS
    from hpo_agent.trainer.loto import choose_learner

    with_task = evaluate_loto(frame, methods=LEARNERS)
    without = evaluate_loto(frame[frame["task"] != task], methods=LEARNERS)
    common = [t for t in without["tasks"] if t in with_task["tasks"]]
    sides = {}
    for name, result in (("with", with_task), ("without", without)):
        means = {m: {k: float(np.mean([result["per_task"][t][m][k] for t in common])) for k in KEYS}
                 for m in LEARNERS}
        shipped = choose_learner({m: (result["summary"][m]["regret@1"], result["summary"][m]["spearman"])
                                  for m in LEARNERS})
        sides[name] = {"shipped_learner": shipped, "mean_over_common_tasks": means,
                       "per_task": {t: {m: {k: result["per_task"][t][m][k] for k in KEYS} for m in LEARNERS}
                                    for t in result["tasks"]}}
    return {"task": task, "common_tasks": common, "learners": list(LEARNERS), **sides}


def main(argv=None) -> int:
    from hpo_agent.trainer.history import load_table

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", required=True, help="the history task whose rows are left out on one side")
    parser.add_argument("--histories", default=str(ROOT / "histories" / "default.parquet"))
    parser.add_argument("--out", default="", help="default: benchmarks/results/ablation_<task>.json")
    args = parser.parse_args(argv)
    frame = load_table(args.histories)
    if args.task not in set(frame["task"]):
        raise SystemExit(f"task '{args.task}' has no rows in {args.histories}; "
                         f"known: {', '.join(sorted(set(frame['task'])))}")
    started = time.perf_counter()
    out = {"benchmark": "task_ablation", "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
           "histories": rel_path(args.histories),
           "date": date.today().isoformat(), "machine": f"{platform.machine()} {platform.system()}",
           **compare(frame, args.task)}
    out["wall_s"] = time.perf_counter() - started
    path = Path(args.out or ROOT / "benchmarks" / "results" / f"ablation_{args.task}.json")
    path.write_text(json.dumps(out, indent=1) + "\n")
    for side in ("without", "with"):
        s = out[side]
        best = s["shipped_learner"]
        means = s["mean_over_common_tasks"][best]
        print(f"{side:>7} {args.task}: fit ships {best}; over the {len(out['common_tasks'])} other tasks "
              + ", ".join(f"{k} {v:.4f}" for k, v in means.items()))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
