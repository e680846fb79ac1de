"""Measure the README's main job and the CLI's start-up, as a new user would run them.

    python benchmarks/main_job.py [--budget 2m] [--task digits]

Runs ``hpo-agent tune --task digits --budget 2m`` as a subprocess (wall time measured from
outside), and ``hpo-agent --help`` five times; writes ``benchmarks/results/main_job.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import hpo_agent_exe

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", default="digits")
    parser.add_argument("--budget", default="2m")
    parser.add_argument("--memory-limit", default=None,
                        help="also pass --memory-limit (e.g. 1.1GB; write to another --out)")
    parser.add_argument("--out", default=str(HERE / "results" / "main_job.json"))
    args = parser.parse_args(argv)
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")

    help_times = []
    for _ in range(5):
        t0 = time.perf_counter()
        subprocess.run([hpo_agent_exe(), "--help"], check=True, capture_output=True, env=env)
        help_times.append(time.perf_counter() - t0)

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        extra = ["--memory-limit", args.memory_limit] if args.memory_limit else []
        proc = subprocess.run([hpo_agent_exe(), "tune", "--task", args.task, "--budget", args.budget, "--out", tmp, *extra],
                              capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return proc.returncode
        report = json.loads((Path(tmp) / args.task / "report.json").read_text())
    metric = report["metric"]["name"]
    result = {
        "command": f"hpo-agent tune --task {args.task} --budget {args.budget}"
                   + (f" --memory-limit {args.memory_limit}" if args.memory_limit else ""),
        "wall_s": round(wall, 2), "budget_s": report["budget_s"], "exit_code": proc.returncode,
        "best_config": report["best"]["config"],
        f"validation_{metric}": report["best"][f"validation_{metric}"],
        f"test_{metric}": report["best"][f"test_{metric}"],
        "trials": len(report["trials"]), "brackets": report["options"].get("brackets"),
        "brackets_auto": report["options"].get("brackets_auto"), "rung_results": sum(len(t["rungs"]) for t in report["trials"]),
        "phases_s": report["phases_s"], "peak_rss_bytes": report["resources"].get("rss_bytes_max"),
        "memory_budget_bytes": report.get("memory_budget_bytes"),
        "outcomes": {o: sum(t["outcome"] == o for t in report["trials"]) for o in {t["outcome"] for t in report["trials"]}},
        "skipped": [{k: v for k, v in s.items() if k != "config"} for s in report.get("skipped", [])],
        "memory_probes": [{k: v for k, v in p.items() if k != "config"} for p in report.get("memory_probes", [])],
        "help_wall_s_median": round(statistics.median(help_times), 3),
        "help_wall_s_all": [round(t, 3) for t in help_times],
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
        "date": time.strftime("%Y-%m-%d"),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
