"""Memory benchmark: the agent's pre-training estimate against the measured peak, per combination.

    python benchmarks/memory.py [--data-dir ../shared/data] [--steps 3] [--only digits,cifar10]

Each (task, model, config) combination runs in a fresh child process (one torch thread): load
the task, build the trial, train ``--steps`` steps, and report the process's peak resident
memory (``ru_maxrss``: what the OS sees, what an out-of-memory kill is decided on) and its
resident memory after loading the data. The estimate is exactly what ``hpo-agent tune`` uses to
drop configs (``agent.tune._memory_estimator`` with the device kind's overhead). Writes
``benchmarks/results/memory.json`` (and ``memory.md``): per row both figures and the relative
error, and the median / 90th-percentile absolute relative error overall. Combinations whose
data are missing (no ``--data-dir``) are listed as skipped. Resumable: rows already in the
output file are kept unless ``--fresh``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

# (task, task options, config overrides) — sizes where the estimate matters; optimizers vary
# the state, layers/batch/length/image size vary weights and activations.
BASE = {"learning_rate": 1e-3, "dropout": 0.1, "weight_decay": 0.0}
COMBOS = [
    ("digits", {}, {"num_layers": 2, "batch_size": 16, "optimizer": "adam"}),
    ("digits", {}, {"num_layers": 8, "batch_size": 64, "optimizer": "sgd"}),
    ("digits", {}, {"num_layers": 24, "batch_size": 128, "optimizer": "rmsprop"}),
    ("digits_x2", {}, {"num_layers": 24, "batch_size": 128, "optimizer": "adam"}),
    ("breast_cancer", {}, {"num_layers": 24, "batch_size": 128, "optimizer": "sgd"}),
    ("ag_news", {"max_train": 512}, {"num_layers": 2, "batch_size": 8, "optimizer": "adam"}),
    ("ag_news", {"max_train": 512}, {"num_layers": 4, "batch_size": 32, "optimizer": "adam"}),
    ("ag_news", {"max_train": 512}, {"num_layers": 6, "batch_size": 64, "optimizer": "sgd"}),
    ("ag_news", {"max_train": 512}, {"num_layers": 12, "batch_size": 16, "optimizer": "rmsprop"}),
    ("ag_news", {"max_train": 512, "hidden_size": 256}, {"num_layers": 6, "batch_size": 32, "optimizer": "adam"}),
    ("ag_news", {"max_train": 512, "model": "distilbert"}, {"num_layers": 4, "batch_size": 32, "optimizer": "adam"}),
    ("ag_news", {"max_train": 512, "model": "roberta"}, {"num_layers": 4, "batch_size": 32, "optimizer": "adam"}),
    ("ag_news_minilm", {"max_train": 256}, {"num_layers": 6, "batch_size": 16, "optimizer": "adam"}),
    ("ag_news_minilm", {"max_train": 256}, {"num_layers": 6, "batch_size": 32, "optimizer": "sgd"}),
    ("sst2", {"max_train": 512}, {"num_layers": 6, "batch_size": 32, "optimizer": "adam"}),
    ("sst2", {"max_train": 512}, {"num_layers": 12, "batch_size": 128, "optimizer": "adam"}),
    ("imdb", {"max_train": 256}, {"num_layers": 4, "batch_size": 16, "optimizer": "adam"}),
    ("squad_v2", {"max_train": 256}, {"num_layers": 2, "batch_size": 8, "optimizer": "adam"}),
    ("squad_v2", {"max_train": 256}, {"num_layers": 4, "batch_size": 16, "optimizer": "rmsprop"}),
    ("cifar10", {"max_train": 512}, {"num_layers": 8, "batch_size": 32, "optimizer": "adam"}),
    ("cifar10", {"max_train": 512}, {"num_layers": 8, "batch_size": 128, "optimizer": "sgd"}),
    ("cifar10", {"max_train": 512}, {"num_layers": 4, "batch_size": 64, "optimizer": "adam"}),
    ("cifar10", {"max_train": 512, "model": "resnet50"}, {"num_layers": 16, "batch_size": 16, "optimizer": "adam"}),
    ("cifar10", {"max_train": 512, "model": "efficientnet_b0"}, {"num_layers": 16, "batch_size": 32, "optimizer": "adam"}),
    ("cifar10", {"max_train": 512, "image_size": 64}, {"num_layers": 8, "batch_size": 32, "optimizer": "rmsprop"}),
]

CHILD = r"""
import json, resource, sys
import psutil, torch
torch.set_num_threads(1)
from hpo_agent.agent.tasks import get_task
from hpo_agent.agent.training import TrialRun
from hpo_agent.agent.tune import _memory_estimator
from hpo_agent import devices
spec = json.loads(sys.argv[1])
options = dict(spec["options"])
if spec.get("data_dir"):
    options["data_dir"] = spec["data_dir"]
task = get_task(spec["task"], seed=0, **options).ensure_loaded()
rss_loaded = psutil.Process().memory_info().rss
config = spec["config"]
estimate = _memory_estimator(task, "cpu")(config)
n_params = task.count_params(config)
run = TrialRun(task, config, seed=0)
run.train(steps=spec["steps"])
print(json.dumps({"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "rss_after_load_bytes": rss_loaded, "estimate_bytes": estimate, "n_params": n_params,
                  "activation_bytes_per_sample": task.activation_bytes_per_sample(config),
                  "activation_model": getattr(task, "activation_model", "leaf"),
                  "model_family": task.model_family, "overhead_bytes": devices.default_overhead_bytes("cpu")}))
"""


def _key(task, options, config) -> str:
    return json.dumps([task, options, config], sort_keys=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("HPO_AGENT_DATA_DIR", ""))
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated task names")
    parser.add_argument("--out", default=str(HERE / "results" / "memory.json"))
    parser.add_argument("--fresh", action="store_true", help="re-measure rows already in --out")
    args = parser.parse_args(argv)

    out = Path(args.out)
    previous = {} if args.fresh or not out.is_file() else {
        r["key"]: r for r in json.loads(out.read_text()).get("rows", []) if "measured_bytes" in r}
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", OMP_NUM_THREADS="1")
    only = {t for t in args.only.split(",") if t}
    rows = []
    for task, options, overrides in COMBOS:
        if only and task not in only:
            continue
        config = dict(BASE, **overrides)
        key = _key(task, options, config)
        if key in previous:
            rows.append(previous[key])
            continue
        spec = {"task": task, "options": options, "config": config, "steps": args.steps,
                "data_dir": str(Path(args.data_dir).resolve()) if args.data_dir else ""}
        proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], capture_output=True,
                              text=True, env=env)
        row = {"key": key, "task": task, "options": options, "config": config}
        if proc.returncode != 0:
            row["skipped"] = (proc.stderr.strip().splitlines() or ["exit %d" % proc.returncode])[-1][:300]
            print(f"{task} {options} {overrides}: skipped ({row['skipped']})", flush=True)
        else:
            got = json.loads(proc.stdout.strip().splitlines()[-1])
            row.update(got, measured_bytes=got["peak_rss_bytes"],
                       relative_error=(got["estimate_bytes"] - got["peak_rss_bytes"]) / got["peak_rss_bytes"])
            print(f"{task} {options} {overrides}: estimate {got['estimate_bytes'] / 2**20:.0f} MiB, "
                  f"measured {got['peak_rss_bytes'] / 2**20:.0f} MiB ({100 * row['relative_error']:+.1f} %)", flush=True)
        rows.append(row)
        _write(out, rows, args)  # every row lands on disk before the next child starts
    summary = _write(out, rows, args)
    print(json.dumps(summary, indent=1))
    return 0


def _static_bytes(row) -> float:
    """Weights, gradients and optimizer state: the estimate with no activations and no overhead."""
    from hpo_agent.devices import estimate_training_memory

    opt = row["config"]["optimizer"]
    return estimate_training_memory(row["n_params"], opt, 0, 0, overhead_bytes=0,
                                    momentum=0.9 if opt == "sgd" else 0.0).total_bytes


def _fit(rows):
    """Least squares on relative error: measured - static = overhead + k[model] * raw activations."""
    models = ["transformer", "leaf"]
    a, b = [], []
    for r in rows:
        act = r["activation_bytes_per_sample"] * r["config"]["batch_size"]
        a.append([1.0] + [act if r["activation_model"] == m else 0.0 for m in models])
        b.append(r["measured_bytes"] - _static_bytes(r))
    w = 1.0 / np.array([r["measured_bytes"] for r in rows])
    coef = np.linalg.lstsq(np.array(a) * w[:, None], np.array(b) * w, rcond=None)[0]
    return {"overhead_bytes": float(coef[0]), **{m: float(c) for m, c in zip(models, coef[1:])}}


def _predict(c, r) -> float:
    act = r["activation_bytes_per_sample"] * r["config"]["batch_size"]
    return c["overhead_bytes"] + _static_bytes(r) + c[r["activation_model"]] * act


def calibrate(rows) -> dict:
    """The constants that best explain these rows, and each row's error when it is left out of
    the fit (an honest figure for combinations the calibration has not seen)."""
    fitted = _fit(rows)
    loo = []
    for i, r in enumerate(rows):
        c = _fit(rows[:i] + rows[i + 1:])
        loo.append(abs(_predict(c, r) - r["measured_bytes"]) / r["measured_bytes"])
    return {"fitted": {"cpu_overhead_mib": fitted["overhead_bytes"] / 2**20,
                       "activation_factor": {m: fitted[m] for m in ("transformer", "leaf")}},
            "leave_one_out_median_abs_relative_error": float(np.median(loo)),
            "leave_one_out_p90_abs_relative_error": float(np.percentile(loo, 90))}


def _write(out: Path, rows, args) -> dict:
    measured = [r for r in rows if "measured_bytes" in r]
    errs = np.abs([r["relative_error"] for r in measured]) if measured else np.zeros(0)
    summary = {"measured": len(measured), "skipped": len(rows) - len(measured),
               "median_abs_relative_error": float(np.median(errs)) if len(errs) else None,
               "p90_abs_relative_error": float(np.percentile(errs, 90)) if len(errs) else None,
               "targets": {"median": 0.15, "p90": 0.30}}
    if len(measured) >= 5:
        summary["calibration"] = calibrate(measured)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "memory", "device": "cpu", "steps": args.steps,
                               "measure": "peak resident set size of a fresh process (ru_maxrss)",
                               "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPUs, "
                                          f"python {platform.python_version()}",
                               "summary": summary, "rows": rows}, indent=1) + "\n")
    lines = ["| task | options | layers | batch | optimizer | estimate MiB | measured MiB | error |",
             "|---|---|---|---|---|---|---|---|"]
    for r in measured:
        c = r["config"]
        lines.append(f"| {r['task']} | {', '.join(f'{k}={v}' for k, v in r['options'].items())} | {c['num_layers']} "
                     f"| {c['batch_size']} | {c['optimizer']} | {r['estimate_bytes'] / 2**20:.0f} "
                     f"| {r['measured_bytes'] / 2**20:.0f} | {100 * r['relative_error']:+.1f} % |")
    if summary["median_abs_relative_error"] is not None:
        lines.append("")
        lines.append(f"Median absolute error {100 * summary['median_abs_relative_error']:.1f} %, "
                     f"90th percentile {100 * summary['p90_abs_relative_error']:.1f} % over {len(measured)} "
                     "combinations (targets 15 % / 30 %).")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return summary


if __name__ == "__main__":
    raise SystemExit(main())
