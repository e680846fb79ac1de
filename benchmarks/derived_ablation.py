"""What the derived features (``trainer/derived.py``) do to the leave-one-task-out figures.

    python benchmarks/derived_ablation.py

Runs ``hpo-agent evaluate --nested``'s evaluation of every learner twice on the committed
histories, with and without the derived features, and compares the two paired over the same
draws of data sets (``trainer/intervals.py``): the share of draws in which the mean with them is
better. Writes ``benchmarks/results/derived_ablation.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import date
from pathlib import Path

from _common import rel_path

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("regret@1", "regret@5", "spearman")


def compare(frame) -> dict:
    """Both evaluations, their means per learner (and the nested ``fit_auto`` row), and how often
    the side with derived features is better on the same draws of data sets."""
    from hpo_agent.trainer.evaluate import NESTED, evaluate_loto
    from hpo_agent.trainer.intervals import paired_lower_share
    from hpo_agent.trainer.learners import LEARNERS, task_group

    sides = {name: evaluate_loto(frame, methods=LEARNERS, nested=True, derived=flag)
             for name, flag in (("with", True), ("without", False))}
    tasks = sides["with"]["tasks"]
    groups = {t: task_group(t) for t in tasks}
    out = {"tasks": tasks, "data_sets": len(set(groups.values())), "learners": list(LEARNERS)}
    for name, result in sides.items():
        out[name] = {"summary": {m: {k: result["summary"][m][k] for k in KEYS} for m in (*LEARNERS, NESTED)},
                     "nested_choices": result["nested"]["choices"],
                     "per_task": {t: {m: {k: result["per_task"][t][m][k] for k in KEYS}
                                      for m in (*LEARNERS, NESTED) if m in result["per_task"][t]} for t in tasks}}
    better = {}
    for m in (*LEARNERS, NESTED):
        better[m] = {}
        for k in KEYS:
            sign = -1.0 if k == "spearman" else 1.0  # lower regret is better; higher Spearman is
            a, b = ({t: sign * out[s]["per_task"][t][m][k] for t in tasks if m in out[s]["per_task"][t]}
                    for s in ("with", "without"))
            better[m][k] = paired_lower_share(a, b, groups)
    out["with_better_share"] = better
    return out


def main(argv=None) -> int:
    from hpo_agent.trainer.history import load_table

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--histories", default=str(ROOT / "histories" / "default.parquet"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "derived_ablation.json"))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    out = {"benchmark": "derived_ablation", "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
           "histories": rel_path(args.histories), "date": date.today().isoformat(),
           "machine": f"{platform.machine()} {platform.system()}", **compare(load_table(args.histories))}
    out["wall_s"] = time.perf_counter() - started
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    for m, row in out["with_better_share"].items():
        print(f"{m:<13} " + "  ".join(
            f"{k} {out['without']['summary'][m][k]:.3f} -> {out['with']['summary'][m][k]:.3f} "
            f"(better in {100 * row[k]['lower']:.0f} % of draws)" for k in KEYS))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
