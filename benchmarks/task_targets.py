"""Run `hpo-agent tune` on the plan's tasks and check each against its quality target (issue 3).

    HPO_AGENT_DATA_DIR=../shared/data python benchmarks/task_targets.py [--only ag_news] [--jobs 2]

Each target is one real `hpo-agent tune` run in a subprocess, wall time measured from outside;
the chosen config's test metric comes from the run's own report. Results go to
``benchmarks/results/task_targets.json`` (one entry per target, written as each run ends, so an
interrupted run keeps what finished; targets already recorded are skipped unless ``--force``) and
a table to ``task_targets.md``. ``--jobs 2`` runs two targets at once with one torch thread each
(this machine has 2 cores; two 1-thread runs waste less than one 2-thread run beside nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from _common import hpo_agent_exe

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "task_targets.json"


@dataclass(frozen=True)
class Target:
    name: str
    task: str
    budget: str
    metric: str                              # the report's test metric checked against `goal`
    goal: Optional[float]                    # None: end to end only (exit 0 and the metrics reported)
    options: Tuple[str, ...] = ()            # --task-option KEY=VALUE
    note: str = ""


TARGETS = (
    Target("ag_news", "ag_news_minilm", "10m", "accuracy", 0.85,
           note="pretrained MiniLM-L6; test = 1,000 rows of the ag_news test split"),
    Target("sst2", "sst2_minilm", "10m", "accuracy", 0.80,
           note="pretrained MiniLM-L6; the issue's bar is on validation (GLUE validation split, 500 of 872 rows, "
                "used for selection); test = 1,000 rows of the mirror's labelled test split"),
    Target("imdb", "imdb", "15m", "accuracy", 0.80, ("model=minilm", "max_length=128", "max_validation=300"),
           note="pretrained MiniLM-L6, first 128 tokens of each review; test = 1,000 rows of the test split"),
    Target("cifar10", "cifar10", "10m", "accuracy", 0.55,
           note="torchvision ResNet-18 from random init (num_layers = residual blocks kept, of 8); the mirror's "
                "train split is a 10,000-image subset; test = 2,000 rows of the test split"),
    Target("squad_v2", "squad_v2", "5m", "f1", None,
           note="end to end only (no quality target): small BERT from config, 378 training questions of the mirror; "
                "at this size it learns to answer 'no answer', which is right for 64 of the 117 test questions"),
)


def run_target(target: Target, threads: Optional[int]) -> Dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [hpo_agent_exe(), "tune", "--task", target.task, "--budget", target.budget, "--out", tmp, "--quiet"]
        for option in target.options:
            cmd += ["--task-option", option]
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        report_path = Path(tmp) / target.task / "report.json"
        report = json.loads(report_path.read_text()) if report_path.exists() else None
    shown = " ".join(["hpo-agent"] + cmd[1:cmd.index("--out")]
                     + [x for o in target.options for x in ("--task-option", o)])
    entry = {"target": target.name, "command": shown, "budget": target.budget, "exit_code": proc.returncode,
             "wall_s": round(wall, 1), "metric": target.metric, "goal": target.goal, "note": target.note,
             "threads": threads, "load_avg_at_start": round(load, 2), "date": time.strftime("%Y-%m-%d %H:%M")}
    if report is None or not report.get("best"):
        entry["error"] = (proc.stderr.strip().splitlines() or ["no report"])[-1]
        entry["met"] = False
        return entry
    best = report["best"]
    test = (best.get("test") or {}).get(target.metric)
    entry.update({
        "optimised_metric": report["metric"]["name"], "best_config": best["config"],
        "validation": best.get(f"validation_{report['metric']['name']}"), "test": test,
        "test_metrics": best.get("test"), "steps": best.get("steps"),
        "trials": len(report["trials"]),
        "outcomes": {o: sum(t["outcome"] == o for t in report["trials"]) for o in {t["outcome"] for t in report["trials"]}},
        "metamodel": {k: (report.get("metamodel") or {}).get("provenance", {}).get(k) for k in ("rows", "tasks", "date")},
        "phases_s": report["phases_s"], "peak_rss_bytes": report["resources"].get("rss_bytes_max"),
        "met": proc.returncode == 0 and test is not None and (target.goal is None or test >= target.goal),
    })
    return entry


def write(results: Dict[str, Dict], out: Path) -> None:
    for target in TARGETS:  # notes describe the setup: keep them as the code states it
        if target.name in results:
            results[target.name]["note"] = target.note
    machine = {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine, "results": results}, indent=1) + "\n")
    lines = ["# Task quality targets (generated by `benchmarks/task_targets.py`)", "",
             f"Machine: {machine['platform']}, {machine['cpus']} CPUs. One `hpo-agent tune` run per row; "
             "test metric of the chosen config, from the run's report.", "",
             "| target | command | wall (s) | validation | test | goal | met | threads | chosen config | note |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name in [t.name for t in TARGETS if t.name in results]:
        r = results[name]
        test = "—" if r.get("test") is None else f"{r['metric']} {r['test']:.3f}"
        cfg = r.get("best_config") or {}
        cfg_s = ", ".join(f"{k}={v:.2g}" if isinstance(v, float) else f"{k}={v}" for k, v in cfg.items())
        val = "—" if r.get("validation") is None else f"{r['validation']:.3f}"
        lines.append(f"| {name} | `{r['command']}` | {r['wall_s']} | {val} | {test} | {'end to end' if r['goal'] is None else r['goal']} | "
                     f"{'yes' if r['met'] else 'no'} | {r.get('threads') or 'default'} | {cfg_s or r.get('error', '')} | "
                     f"{r['note']} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", action="append", help="target name (repeatable)")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch threads per run (default: 1 when --jobs > 1)")
    parser.add_argument("--force", action="store_true", help="rerun targets already recorded")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--render", action="store_true", help="only rewrite the table from the JSON")
    args = parser.parse_args(argv)
    results: Dict[str, Dict] = json.loads(args.out.read_text())["results"] if args.out.exists() else {}
    if args.render:
        write(results, args.out)
        return 0
    todo: List[Target] = [t for t in TARGETS if (not args.only or t.name in args.only)
                          and (args.force or t.name not in results)]
    threads = args.threads or (1 if args.jobs > 1 else None)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for entry in pool.map(lambda t: run_target(t, threads), todo):
            results[entry["target"]] = entry  # written as each finishes (map yields in order)
            write(results, args.out)
            print(json.dumps(entry), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
