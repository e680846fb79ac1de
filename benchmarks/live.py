"""Live benchmark: hpo-agent, Optuna TPE + successive-halving pruner, and random search, each given
the same wall-clock budget on the same task on this machine; then the chosen config's test metric.

    python benchmarks/live.py [--tasks digits,breast_cancer,wine] [--budget 90] [--seeds 1]
    HPO_AGENT_DATA_DIR=../shared/data python benchmarks/live.py --tasks sst2_minilm@n4000 \
        --task-option max_length=64 --budget 300 --seeds 2 --out benchmarks/results/live_text.json

A task may carry a training-set cap as ``name@nN`` (the histories' variant names); every method
then trains on the same N examples, with the same ``--task-option``s.

* ``hpo_agent``: ``hpo-agent tune --task T --budget B --model M`` in a subprocess, where ``M`` is a
  meta-model fitted on ``histories/default.parquet`` *without* task T (a task it has never seen).
  ``hpo_agent_bK`` is the same with ``--brackets K`` and ``hpo_agent_auto`` with ``--brackets auto``
  (tune's default; each row records the number it chose). Not run by default; ``--methods`` picks.
* ``optuna_tpe_sha``: Optuna's TPE sampler over the same search space (its continuous ranges) with
  its ``SuccessiveHalvingPruner``; a trial trains up to 9 units of ``budget/40`` training seconds
  and reports validation after each unit (the usual "report per epoch" objective).
* ``random``: the same objective with Optuna's random sampler and no pruning.
The Optuna loops run in a fresh subprocess too, with the same torch thread count, and stop
asking for trials at the deadline; the best trial (deepest evaluation, then value) is scored on
the task's test split. Overhead = wall time not spent in training steps (set-up, evaluation,
sampler); ``sampler_s`` is the time inside Optuna's ``ask``/``tell``/``should_prune``.
Resumable: results already in the output file are kept (``--fresh`` re-runs them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import hpo_agent_exe, shipped_learner, wins_ties_losses

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
METHODS = ("hpo_agent", "optuna_tpe_sha", "random")  # the default set; hpo_agent_bK may be added


def brackets_of(method: str):
    """``hpo_agent`` → 1, ``hpo_agent_b3`` → 3, ``hpo_agent_auto`` → "auto", an Optuna method → None."""
    if method == "hpo_agent":
        return 1
    if method == "hpo_agent_auto":
        return "auto"
    if method.startswith("hpo_agent_b") and method[len("hpo_agent_b"):].isdigit():
        return int(method[len("hpo_agent_b"):])
    if method in METHODS:
        return None
    raise SystemExit(f"unknown method '{method}'; use {', '.join(METHODS)}, hpo_agent_auto or hpo_agent_b<brackets>")

OPTUNA_CHILD = r"""
import json, math, resource, sys, time
spec = json.loads(sys.argv[1])
t_start = time.monotonic()
deadline = t_start + spec["budget_s"]
import optuna, torch
torch.set_num_threads(spec["threads"])
from hpo_agent.agent.space import default_space
from hpo_agent.agent.tasks import get_task
from hpo_agent.agent.training import TrialRun
from hpo_agent.trainer.storage import suggest
optuna.logging.set_verbosity(optuna.logging.WARNING)
task = get_task(spec["task"], seed=spec["seed"], max_train=spec["max_train"], **spec["options"]).ensure_loaded()
space = default_space()
metric, direction = task.metric.name, task.metric.direction
sampler = (optuna.samplers.TPESampler(seed=spec["seed"]) if spec["method"] == "optuna_tpe_sha"
           else optuna.samplers.RandomSampler(seed=spec["seed"]))
pruner = (optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
          if spec["method"] == "optuna_tpe_sha" else optuna.pruners.NopPruner())
study = optuna.create_study(direction="maximize" if direction == "max" else "minimize", sampler=sampler, pruner=pruner)
unit, units = spec["budget_s"] / 40.0, 9
sampler_s, train_s, best, n_trials = 0.0, 0.0, None, 0
def better(a, b):
    if b is None: return True
    if a[0] != b[0]: return a[0] > b[0]
    return a[1] > b[1] if direction == "max" else a[1] < b[1]
while time.monotonic() < deadline - 1.0:
    t = time.perf_counter(); trial = study.ask(); sampler_s += time.perf_counter() - t
    config = suggest(trial, space)
    n_trials += 1
    run = TrialRun(task, config, seed=spec["seed"] * 10007 + trial.number)
    state, value = optuna.trial.TrialState.COMPLETE, None
    for u in range(1, units + 1):
        before = run.train_seconds
        run.train(seconds=u * unit, deadline=deadline)
        train_s += run.train_seconds - before
        value = run.evaluate("validation").get(metric)
        if value is None or not math.isfinite(value):
            state = optuna.trial.TrialState.FAIL; break
        if better((u, value), best[0] if best else None):
            best = ((u, value), config, run)
        if time.monotonic() >= deadline:
            break
        t = time.perf_counter(); trial.report(value, u); prune = trial.should_prune(); sampler_s += time.perf_counter() - t
        if prune:
            state = optuna.trial.TrialState.PRUNED; break
    t = time.perf_counter()
    if state == optuna.trial.TrialState.COMPLETE and time.monotonic() < deadline:
        study.tell(trial, value)
    else:
        study.tell(trial, state=state if state != optuna.trial.TrialState.COMPLETE else optuna.trial.TrialState.PRUNED)
    sampler_s += time.perf_counter() - t
search_s = time.monotonic() - t_start
test = best[2].evaluate("test") if best else {}
print(json.dumps({"test": test.get(metric), "validation": best[0][1] if best else None, "config": best[1] if best else None,
                  "trials": n_trials, "train_s": train_s, "sampler_s": sampler_s, "search_s": search_s,
                  "wall_s": time.monotonic() - t_start, "metric": metric,
                  "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def _loto_model(task: str, histories: Path, out: Path, learner: str) -> None:
    from hpo_agent.export import export_onnx
    from hpo_agent.trainer.fit import fit_metamodel
    from hpo_agent.trainer.learners import task_group
    from hpo_agent.trainer.history import load_table

    frame = load_table(histories)
    fitted = fit_metamodel(frame[frame["task"].map(task_group) != task_group(task)], learner=learner,
                           validate=False)
    export_onnx(fitted, out)


def split_task(spec: str):
    """``name@nN`` → (name, N); a plain name → (name, None)."""
    name, _, variant = spec.partition("@")
    if variant and not (variant.startswith("n") and variant[1:].isdigit()):
        raise SystemExit(f"task '{spec}': a variant must be @n<training examples>, e.g. cifar10@n2000")
    return name, int(variant[1:]) if variant else None


def _hpo_agent(name: str, max_train, budget_s: float, seed: int, model: Path, env, options: dict,
               brackets=1) -> dict:
    exe = hpo_agent_exe()
    extra = ["--max-train", str(max_train)] if max_train else []
    extra += ["--brackets", str(brackets)]  # explicit: `hpo_agent` means one bracket whatever tune's default
    for key, value in options.items():
        extra += ["--task-option", f"{key}={value}"]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        proc = subprocess.run([exe, "tune", "--task", name, "--budget", f"{budget_s:g}s", "--model", str(model),
                               "--seed", str(seed), "--out", tmp, *extra], capture_output=True, text=True, env=env)
        wall = time.monotonic() - t0
        if proc.returncode != 0:
            return {"error": proc.stderr.strip()[-300:]}
        report = json.loads(next(Path(tmp).glob("*/report.json")).read_text())
    metric = report["metric"]["name"] if isinstance(report.get("metric"), dict) else report.get("metric")
    best = report["best"]
    train_s = sum(t.get("train_seconds", 0.0) for t in report["trials"])
    phases = report["phases_s"]
    return {"test": best["test_" + metric], "validation": best["validation_" + metric], "config": best["config"],
            "trials": len(report["trials"]), "brackets": report["options"].get("brackets"), "train_s": train_s, "wall_s": wall, "metric": metric,
            "sampler_s": phases.get("score", 0.0) + phases.get("memory", 0.0),
            # tune's own clock and its phases: wall_s - elapsed_s is what the process spent outside
            # that clock (start-up, writing the report, exit), where a budget overrun can hide
            "elapsed_s": report.get("elapsed_s"), "phases_s": phases,
            "peak_rss_bytes": report["resources"].get("rss_bytes_max")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", default="digits,breast_cancer,wine")
    parser.add_argument("--budget", type=float, default=90.0, help="seconds per method and task")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--histories", default=str(ROOT / "histories" / "default.parquet"))
    parser.add_argument("--learner", default="", help="meta-model learner; default: the shipped model's")
    parser.add_argument("--out", default=str(RESULTS / "live.json"))
    parser.add_argument("--task-option", action="append", default=[], metavar="KEY=VALUE",
                        help="task option for every method, e.g. max_length=64 (repeatable)")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help="comma-separated: hpo_agent, optuna_tpe_sha, random, hpo_agent_b<K> (tune --brackets K), "
                             "hpo_agent_auto (tune --brackets auto)")
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    from hpo_agent.agent.tasks import get_task, parse_task_option

    options = dict(parse_task_option(kv) for kv in args.task_option)  # JSON-typed for the Optuna child
    args.options = options
    args.method_list = [m for m in args.methods.split(",") if m]
    for method in args.method_list:
        brackets_of(method)  # an unknown name stops here, before any run
    args.learner = args.learner or shipped_learner("forest")

    out = Path(args.out)
    rows = [] if args.fresh or not out.is_file() else json.loads(out.read_text()).get("rows", [])
    done = {(r["task"], r["method"], r["seed"]) for r in rows if "test" in r}
    rows = [r for r in rows if (r["task"], r["method"], r["seed"]) in done]
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", OMP_NUM_THREADS=str(args.threads))
    with tempfile.TemporaryDirectory() as tmp:
        tasks = [(t, *split_task(t)) for t in args.tasks.split(",") if t]  # bad variants fail before any run
        for task, name, max_train in tasks:
            metric = get_task(name).metric
            model = Path(tmp) / f"loto-{task}.onnx"
            for seed in range(args.seeds):
                for method in args.method_list:
                    if (task, method, seed) in done:
                        continue
                    if brackets_of(method):
                        if not model.exists():
                            _loto_model(task, Path(args.histories), model, args.learner)
                        got = _hpo_agent(name, max_train, args.budget, seed, model, env, options, brackets_of(method))
                    else:
                        spec = {"task": name, "max_train": max_train, "options": options, "method": method,
                                "seed": seed, "budget_s": args.budget, "threads": args.threads}
                        proc = subprocess.run([sys.executable, "-c", OPTUNA_CHILD, json.dumps(spec)],
                                              capture_output=True, text=True, env=env)
                        got = (json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0
                               else {"error": proc.stderr.strip()[-300:]})
                    # each row's own date: a resumed file can hold rows of several days (and code versions)
                    row = {"task": task, "method": method, "seed": seed, "budget_s": args.budget,
                           "metric": metric.name, "direction": metric.direction,
                           "date": time.strftime("%Y-%m-%d"), **got}
                    if brackets_of(method):
                        row["learner"] = args.learner
                    if "wall_s" in got:
                        row["overhead_s"] = got["wall_s"] - got["train_s"]
                    print(json.dumps({k: v for k, v in row.items() if k != "config"}), flush=True)
                    rows.append(row)
                    _write(out, rows, args)
    print(json.dumps(_write(out, rows, args), indent=1))
    return 0


def _from_root(path: str) -> str:
    """``path`` relative to the repository root (``../shared/data``), else as given."""
    try:
        return Path(os.path.relpath(Path(path).resolve(), ROOT)).as_posix()
    except ValueError:  # another drive
        return path


def _write(out: Path, rows, args) -> dict:
    summary = {"wins_ties_losses": {}, "per_task": {}}
    methods = args.method_list
    for r in rows:
        if r.get("test") is not None:
            summary["per_task"].setdefault(r["task"], {}).setdefault(r["method"], []).append(r["test"])
    # every hpo-agent variant against every method listed after it, per task × seed
    for i, method in enumerate(methods):
        for other in (methods[i + 1:] if brackets_of(method) else []):
            counts = wins_ties_losses(rows, method, other)
            if sum(counts):
                summary["wins_ties_losses"][f"{method} vs {other}"] = counts
    # the key the README and older result files know
    summary["wins_ties_losses_vs_optuna_tpe_sha"] = summary["wins_ties_losses"].get(
        "hpo_agent vs optuna_tpe_sha", [0, 0, 0])
    out.parent.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/live.py " + " ".join(args.argv)
    if os.environ.get("HPO_AGENT_DATA_DIR"):  # as a path from the repository, not this machine's
        command = f"HPO_AGENT_DATA_DIR={_from_root(os.environ['HPO_AGENT_DATA_DIR'])} " + command
    out.write_text(json.dumps({"benchmark": "live", "command": command.strip(),
                               "budget_s": args.budget, "threads": args.threads, "methods": methods,
                               # tune --brackets K cycles bracket sizes as Hyperband does (since 2026-11-29)
                               "bracket_sizes": "hyperband cycle (agent/brackets.py::bracket_plan)",
                               "task_options": args.options,
                               "learner": args.learner, "date": time.strftime("%Y-%m-%d"),  # of the last write
                               "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPUs, "
                                          f"python {platform.python_version()}",
                               "summary": summary, "rows": rows}, indent=1) + "\n")
    return summary


if __name__ == "__main__":
    raise SystemExit(main())
