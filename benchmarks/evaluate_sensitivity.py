"""How much the leave-one-task-out figures depend on the meta-model's own settings.

    python benchmarks/evaluate_sensitivity.py [--histories histories/default.parquet]

``hpo-agent evaluate`` scores the shipped learner with its shipped settings. Those settings were
chosen while looking at the same held-out tasks, and a mean over 14 tasks moves a lot when one
task's top pick changes (a pick that failed or diverged costs a regret of 1, i.e. 0.07 of the
mean). So this script reruns the same evaluation for the shipped learner with each of a few
neighbouring settings (one or two knobs changed each) and writes every summary and each task's
regret@1 to ``benchmarks/results/evaluate_sensitivity.json``. It changes nothing that ships.
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

# Each entry overrides the shipped settings of trainer/learners.py::make_learner('gbm') (also the
# base of 'gbm_balanced').
NEIGHBOURS = {
    "shipped": {},
    "slower, more trees": {"max_iter": 300, "learning_rate": 0.03},
    "learning_rate 0.05": {"learning_rate": 0.05},
    "min_samples_leaf 20": {"min_samples_leaf": 20},
    "smaller trees": {"max_leaf_nodes": 7, "min_samples_leaf": 10},
    "larger trees": {"max_iter": 200, "max_leaf_nodes": 31},
    "l2_regularization 0.1": {"l2_regularization": 0.1},
}


def main(argv=None) -> int:
    from hpo_agent.trainer.evaluate import evaluate_loto
    from hpo_agent.trainer.history import load_table

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--histories", default=str(ROOT / "histories" / "default.parquet"))
    parser.add_argument("--learner", default="", help="default: the shipped model's learner")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "evaluate_sensitivity.json"))
    args = parser.parse_args(argv)
    args.learner = args.learner or shipped_learner("gbm")

    frame = load_table(args.histories)
    settings, started = {}, time.perf_counter()
    for name, params in NEIGHBOURS.items():
        result = evaluate_loto(frame, methods=(args.learner,), learner_params=params)
        summary = result["summary"][args.learner]
        settings[name] = {"params": params, "summary": summary,
                          "regret@1_per_task": {t: result["per_task"][t][args.learner]["regret@1"]
                                                for t in result["tasks"]}}
        print(f"{name:<24} regret@1 {summary['regret@1']:.4f}  regret@5 {summary['regret@5']:.4f}  "
              f"spread@5 {summary['spread@5']:.4f}  spearman {summary['spearman']:.3f}", flush=True)
    others = [s["summary"] for n, s in settings.items() if n != "shipped"]
    keys = ("regret@1", "regret@5", "spread@5", "spearman")
    out = {"benchmark": "evaluate_sensitivity", "learner": args.learner, "histories": rel_path(args.histories),
           "date": date.today().isoformat(), "machine": f"{platform.machine()} {platform.system()}",
           "tasks": result["tasks"], "settings": settings,
           "neighbours": {k: {"median": statistics.median(s[k] for s in others),
                              "min": min(s[k] for s in others), "max": max(s[k] for s in others)} for k in keys},
           "wall_s": time.perf_counter() - started}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out["neighbours"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
