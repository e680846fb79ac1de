"""Tune reports: the JSON document, the ``transformers.TrainingArguments`` view of the winner,
and the terminal table."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from .candidates import speed_check
from .records import Outcome
from .space import config_key

REPORT_SCHEMA_VERSION = 1

# Plain Adam is not among TrainingArguments' `optim` choices; adamw_torch is the nearest.
_OPTIM = {"adam": "adamw_torch", "adamw": "adamw_torch", "sgd": "sgd", "rmsprop": "rmsprop"}


def training_arguments(config: Dict[str, Any], max_steps: int = 0) -> Dict[str, Any]:
    """The config in keys that ``transformers.TrainingArguments`` accepts (plus model-config keys
    under ``model_config`` for the ones that belong to the model, not the trainer)."""
    opt = str(config.get("optimizer", "adam")).lower()
    args: Dict[str, Any] = {
        "learning_rate": float(config["learning_rate"]),
        "per_device_train_batch_size": int(config["batch_size"]),
        "weight_decay": float(config.get("weight_decay", 0.0)),
        "optim": _OPTIM.get(opt, opt),
    }
    if max_steps:
        args["max_steps"] = int(max_steps)
    if opt == "adam":
        args["_note"] = ("optimizer 'adam' maps to optim='adamw_torch' (no plain Adam in TrainingArguments); "
                         "decoupled weight decay differs from Adam's L2 penalty when weight_decay > 0")
    if opt == "sgd":
        args["optim_args"] = "momentum=0.9"
    model_config = {}
    if "num_layers" in config:
        model_config["num_hidden_layers"] = int(config["num_layers"])
    if "dropout" in config:
        model_config["hidden_dropout_prob"] = float(config["dropout"])
    args["model_config"] = model_config
    return args


def _trials(state) -> List[Dict[str, Any]]:
    by_trial: Dict[int, Dict[str, Any]] = {}
    n_rungs_done = max((r.rung for r in state.results), default=-1)
    for r in state.results:
        entry = by_trial.setdefault(r.trial_id, {"trial_id": r.trial_id, "config": r.config,
                                                 "predicted": r.predicted, "rungs": []})
        entry["rungs"].append({"rung": r.rung, "outcome": r.outcome, "score": r.score, "metrics": r.metrics,
                               "steps": r.steps, "train_seconds": round(r.train_seconds, 3),
                               "wall_seconds": round(r.wall_seconds, 3), "peak_rss_bytes": r.peak_rss_bytes,
                               "resources": r.resources, "error": r.error})
    bracket_of = {t: b for b, ids in enumerate(state.brackets) for t in ids}
    for entry in by_trial.values():
        entry["bracket"] = bracket_of.get(entry["trial_id"], 0)
        last = entry["rungs"][-1]
        entry["rung_reached"] = last["rung"]
        entry["measured"] = last["score"]
        entry["steps"] = last["steps"]
        entry["train_seconds"] = last["train_seconds"]
        entry["peak_rss_bytes"] = max((x["peak_rss_bytes"] or 0) for x in entry["rungs"]) or None
        if last["outcome"] != Outcome.COMPLETE.value:
            entry["outcome"] = last["outcome"]
        elif entry["trial_id"] == state.best_trial or last["rung"] == n_rungs_done:
            entry["outcome"] = Outcome.COMPLETE.value
        else:
            entry["outcome"] = Outcome.PRUNED.value
    return sorted(by_trial.values(), key=lambda e: e["trial_id"])


def _speed_check(state, trials: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The cost model's predicted seconds per step against rung 0's measured ones."""
    measured = {}
    for t in trials:
        first = t["rungs"][0]
        if first["outcome"] == Outcome.COMPLETE.value and first["steps"]:
            measured[config_key(t["config"])] = first["train_seconds"] / first["steps"]
    return speed_check(state.candidates, measured)


def build_report(state) -> Dict[str, Any]:
    """The JSON report of a tune run (see README for the keys)."""
    opts = state.options
    trials = _trials(state)
    best = next((t for t in trials if t["trial_id"] == state.best_trial), None)
    metric = state.metric.get("name")
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "task": opts.task,
        "metric": state.metric,
        "budget_s": opts.budget_s,
        "elapsed_s": round(time.monotonic() - opts.started_at, 3),
        "search_finished": state.finished_search,
        "resumed_trials": state.resumed_trials,
        "best": None if best is None else {
            "trial_id": best["trial_id"], "config": best["config"], "predicted": best["predicted"],
            "validation": best["rungs"][-1]["metrics"], "test": state.best_test,
            "validation_" + str(metric): best["measured"], "test_" + str(metric): state.best_test.get(metric),
            "steps": best["steps"], "train_seconds": best["train_seconds"],
        },
        "training_arguments": None if best is None else training_arguments(best["config"], best["steps"]),
        "trials": trials,
        "skipped": state.skipped,
        "memory_probes": state.probes,
        "speed_check": _speed_check(state, trials),
        "phases_s": {k: round(v, 3) for k, v in state.phases.items()},
        "device": state.device,
        "memory_budget_bytes": state.memory_budget_bytes,
        "resources": state.resources,
        "task_description": state.task_description,
        "meta_features": state.meta_features,
        "metamodel": state.metamodel,
        "brackets": state.brackets,
        "options": {"n_candidates": opts.n_candidates, "eta": opts.eta, "brackets": opts.brackets,
                    "brackets_auto": state.brackets_auto, "min_budget_s": opts.min_budget_s,
                    "seed": opts.seed, "memory_limit_bytes": opts.memory_limit_bytes,
                    "device_profile": opts.device_profile, "trials_in_child_process": state.isolated,
                    "report_reserve_s": None if state.report_reserve_s is None else round(state.report_reserve_s, 3)},
        "host": {"python": platform.python_version(), "platform": platform.platform()},
    }


def write_report(report: Dict[str, Any], path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)  # atomic: a reader never sees half a report
    return path


def _fmt(value: Any, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def render_table(report: Dict[str, Any]) -> str:
    """A readable summary: one row per trial, then the winner and where time went."""
    metric = report["metric"].get("name", "score")
    head = f"{'trial':>5}  {'rung':>4}  {'outcome':<8}  {'predicted':>9}  {'val ' + metric:>12}  {'steps':>6}  {'train s':>7}  {'peak MB':>7}  config"
    lines = [head, "-" * len(head)]
    for t in report["trials"]:
        cfg = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in t["config"].items())
        peak = None if not t["peak_rss_bytes"] else t["peak_rss_bytes"] / 2 ** 20
        lines.append(f"{t['trial_id']:>5}  {t['rung_reached']:>4}  {t['outcome']:<8}  {_fmt(t['predicted'], '.3f'):>9}  "
                     f"{_fmt(t['measured']):>12}  {t['steps']:>6}  {t['train_seconds']:>7.1f}  {_fmt(peak, '.0f'):>7}  {cfg}")
    best = report.get("best")
    if best:
        lines.append("")
        lines.append(f"best: trial {best['trial_id']}  validation {metric} {_fmt(best['validation_' + metric])}  "
                     f"test {metric} {_fmt(best['test_' + metric])}")
        lines.append("      " + json.dumps(best["config"], default=str))
    speed = report.get("speed_check")
    if speed:
        rho = f", Spearman {speed['spearman']:.2f}" if "spearman" in speed else ""
        lines.append(f"cost model: this device trains {speed['speed_vs_histories']:.2g}x as fast as the histories' "
                     f"machine (median over {len(speed['candidates'])} configs{rho})")
    phases = ", ".join(f"{k} {v:.1f}s" for k, v in report["phases_s"].items())
    lines.append(f"time: {report['elapsed_s']:.1f}s of {report['budget_s']:.0f}s budget ({phases})")
    if report.get("skipped"):
        lines.append(f"skipped for memory: {len(report['skipped'])} config(s) (see report)")
    if report.get("memory_probes"):
        probes = report["memory_probes"]
        oom = sum(p["outcome"] == "oom" for p in probes)
        lines.append(f"memory probes: {len(probes)} borderline config(s) tried for one step, {oom} out of memory")
    return "\n".join(lines)
