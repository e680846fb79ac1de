"""Which re-ranking between brackets: hpo-agent's replay under variants of ``agent/refine.py``.

    python benchmarks/refine_ablation.py            # after benchmarks/replay.py (reads its file)

Runs hpo-agent alone on every full-grid task of ``benchmarks/results/replay.json`` under each
variant of the between-bracket re-ranking (:data:`VARIANTS`: the acquisition, and whether the
residual GP's kernel spans the fidelity a value was seen at), then ranks each variant against
the other methods' recorded runs in that file, as ``replay.py`` ranks the shipped one. hpo-agent's
replay is the same for every seed (deterministic meta-model, successive halving and
re-ranking), so one run per task stands for every seed. Writes
``benchmarks/results/refine_ablation.json``. The variants are chosen and scored on the same seven
grids: read the figures as a comparison on these tasks, not as a held-out estimate.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date
from pathlib import Path

from _common import ROOT, compress_trace, rel_path

RESULTS = ROOT / "benchmarks" / "results"

# name -> (acquisition, fidelity-aware kernel); None: no re-ranking (the meta-model's order throughout)
VARIANTS = {
    "ei+fidelity": ("ei", True),      # shipped
    "ei": ("ei", False),
    "ucb+fidelity": ("ucb", True),
    "ucb": ("ucb", False),            # shipped until 2026-12-02
    "no_refine": None,
}

_SHARED: dict = {}


def run_variant(name: str) -> dict:
    """hpo-agent's trace on every task under variant ``name``."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    from hpo_agent.agent.refine import LEVEL_LENGTHSCALES
    from hpo_agent.trainer import replay as rp

    spec = VARIANTS[name]
    options = spec and {"acquisition": spec[0], "level_lengthscales": LEVEL_LENGTHSCALES if spec[1] else (np.inf,)}
    traces = {}
    with threadpool_limits(limits=1):
        for task, (table, scores) in _SHARED["tables"].items():
            clock = rp.replay(table, "hpo_agent", 0, _SHARED["max_fraction"] * table.full_cost,
                              scores=scores, refine=spec is not None, refine_options=options)
            traces[task] = compress_trace(clock.trace)  # rounded as replay.json's traces, so ties rank alike
    return traces


def main(argv=None) -> int:
    from hpo_agent.trainer import replay as rp
    from hpo_agent.trainer.fit import histories_space
    from hpo_agent.trainer.history import load_table

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replay", default=str(RESULTS / "replay.json"), help="the other methods' runs")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--jobs", type=int, default=2, help="worker processes over variants")
    parser.add_argument("--out", default=str(RESULTS / "refine_ablation.json"))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    ref = json.loads(Path(args.replay).read_text())
    variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {unknown}; known: {', '.join(VARIANTS)}")
    frame = load_table(str(ROOT / ref["histories"]))
    tables = rp.grid_tables(frame, histories_space(frame))
    _SHARED.update(max_fraction=ref["max_fraction"], tables={
        task: (tables[task], rp.loto_scores(frame, tables[task], learner=ref["learner"], seed=0))
        for task in ref["tasks"]})
    if args.jobs > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            traces = dict(zip(variants, pool.map(run_variant, variants)))
    else:
        traces = {v: run_variant(v) for v in variants}

    others = [m for m in ref["methods"] if m != "hpo_agent"]
    full_costs = {t: ref["per_task"][t]["grid_cost_s"] for t in ref["tasks"]}
    summary = {}
    for v in variants:
        runs = {t: {**{m: {int(s): tr for s, tr in ref["per_task"][t]["traces"][m].items()} for m in others},
                    "hpo_agent": {s: traces[v][t] for s in range(ref["seeds"])}} for t in ref["tasks"]}
        s = rp.summarise(runs, full_costs, ref["summary"]["fractions"])
        summary[v] = {"mean_regret": {f: s["mean_regret"][f]["hpo_agent"] for f in s["mean_regret"]},
                      "average_rank": {f: s["average_rank"][f]["hpo_agent"] for f in s["average_rank"]},
                      "best_other_rank": {f: min(s["average_rank"][f][m] for m in others) for f in s["average_rank"]},
                      "regret_per_task": {t: {f"{f:g}": rp.regret_at(traces[v][t], f * full_costs[t])
                                              for f in ref["summary"]["fractions"]} for t in ref["tasks"]}}
        print(v, {f: f"rank {summary[v]['average_rank'][f]:.3f} (best other "
                     f"{summary[v]['best_other_rank'][f]:.3f}), regret {summary[v]['mean_regret'][f]:.4f}"
                  for f in ("0.05", "0.1")}, flush=True)
    result = {"benchmark": "refine_ablation", "replay": rel_path(args.replay), "date": date.today().isoformat(),
              "variants": {v: VARIANTS[v] and {"acquisition": VARIANTS[v][0], "fidelity_kernel": VARIANTS[v][1]}
                           for v in variants},
              "tasks": ref["tasks"], "learner": ref["learner"], "summary": summary,
              "machine": f"{platform.machine()} {platform.system()}, python {platform.python_version()}",
              "benchmark_wall_s": time.perf_counter() - started}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
