"""Deepening histories: retrain a variant's recorded configs to longer fidelities, in the table.

    python -m hpo_agent.trainer.deepen --task sst2_minilm@n4000 --steps 8,24,96 [--jobs 2] [--limit N]

``collect`` skips a config its store already holds, whatever fidelities it was recorded at, so
raising a suite entry's fidelities does not lengthen its trials. This does: every finished trial of
the variant whose recorded step counts are a strict prefix of ``--steps`` is trained again from
scratch exactly as ``collect`` recorded it (the default suite's task options and split, training
seed 0, one torch thread per worker process) and validated at every step count of ``--steps``.
The recorded fidelities come first on purpose: training reseeds dropout at the start of each
stretch between validations (``agent/training.py``), so the re-run retraces the recorded values
(:func:`prefix_diff` reports where it does not) and then goes on.

Each finished config is appended to a journal beside the table (``deepen/<variant>.jsonl``: one
JSON line per config, written before the next one starts), so an interrupted run loses at most the
configs in training and a rerun, in this session or a later one, trains only what the journal
lacks. The table changes only once the journal holds every short trial of the variant: then all of
them replace their rows at once (value, outcome, fidelities, training times, wall time, peak RSS;
the working-set columns cover the model build and the first fidelity, which do not change) and
the journal is removed. So a committed table never mixes fidelities within a variant, whose
per-task targets would then compare short runs with long ones. Run one ``deepen`` per table at a
time (``--jobs`` is its parallelism).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

REPLACED = ("value", "outcome", "fidelity_steps", "fidelity_values", "train_seconds_at_fidelity",
            "wall_time_s", "peak_rss_bytes")


def is_strict_prefix(recorded: Sequence[int], steps: Sequence[int]) -> bool:
    """True when ``recorded`` step counts begin ``steps`` and are fewer."""
    return len(recorded) < len(steps) and list(recorded) == list(steps[:len(recorded)])


def pending(table, variant: str, steps: Sequence[int]) -> List[Tuple[int, Dict[str, Any]]]:
    """``(row index, config)`` of ``variant``'s finished trials recorded at a strict prefix of ``steps``.

    Trials that failed or ran out of memory are left as they are: a longer run would not change that.
    """
    from .history import row_config

    rows = table[(table["task"] == variant) & (table["outcome"] == "complete")]
    return [(int(i), row_config(row)) for i, row in rows.iterrows()
            if is_strict_prefix([int(s) for s in row["fidelity_steps"]], steps)]


def prefix_diff(recorded: Sequence[float], values: Sequence[float]) -> Optional[float]:
    """Largest absolute difference between the recorded values and the re-run's first ones (None
    when the re-run stopped before the recorded fidelities)."""
    if len(values) < len(recorded):
        return None
    return max((abs(float(a) - float(b)) for a, b in zip(recorded, values)), default=0.0)


def apply_run(table, index: int, steps: Sequence[int], run: Dict[str, Any]) -> None:
    """Write one re-run (``collect.run_trial``'s result) into row ``index`` of ``table``, in place.

    A run that finished every fidelity replaces the row's value with the metric at the last one;
    one that failed part-way keeps the fidelities it reached, with no value, as ``collect`` would.
    """
    values = [float(v) for v in run["values"]]
    complete = run["outcome"] == "complete" and len(values) == len(steps) and math.isfinite(values[-1])
    update = {"value": values[-1] if complete else float("nan"),
              "outcome": run["outcome"] if run["outcome"] != "complete" or complete else "failed",
              "fidelity_steps": [int(s) for s in steps[:len(values)]], "fidelity_values": values,
              "train_seconds_at_fidelity": [float(s) for s in run["train_seconds_at_fidelity"]],
              "wall_time_s": float(run["wall_time_s"]), "peak_rss_bytes": run.get("peak_rss_bytes")}
    for col in REPLACED:
        table.at[index, col] = update[col]


_TASK = None  # the variant's task, built once per worker process


def _init_worker(variant: str) -> None:
    import torch

    from .build_default import suite_task

    global _TASK
    torch.set_num_threads(1)  # as collect records trials (CollectOptions.threads)
    _TASK = suite_task(variant)


def _train(index: int, config: Dict[str, Any], steps: Sequence[int], seed: int) -> Tuple[int, Dict[str, Any]]:
    from .collect import run_trial

    run = run_trial(_TASK, config, list(steps), seed, lambda value, step: None)
    return index, {k: run[k] for k in ("outcome", "error", "values", "train_seconds_at_fidelity", "wall_time_s",
                                       "peak_rss_bytes")}


def journal_path(table_path, variant: str) -> Path:
    """Where ``deepen`` journals ``variant``'s re-runs for the table at ``table_path``."""
    return Path(table_path).parent / "deepen" / f"{variant.replace('@', '_')}.jsonl"


def read_journal(path: Path, steps: Sequence[int]) -> Dict[Tuple[str, int], Dict[str, Any]]:
    """The journal's re-runs to ``steps``, by (study, trial number); a torn last line is ignored."""
    done: Dict[Tuple[str, int], Dict[str, Any]] = {}
    if not path.is_file():
        return done
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:  # the process died while writing it: that config runs again
            continue
        if entry.get("schema") == JOURNAL_SCHEMA and entry.get("steps") == list(steps):
            done[(entry["study"], int(entry["number"]))] = entry
    return done


JOURNAL_SCHEMA = 1


def deepen(table_path: str, variant: str, steps: Sequence[int], jobs: int = 1, seed: int = 0,
           limit: Optional[int] = None, log=print) -> Dict[str, Any]:
    """Retrain ``variant``'s short trials in the table at ``table_path`` to ``steps``, journaling each
    one; once all are journaled, write them into the table. Returns counts, whether the table was
    updated, and the largest difference between re-runs and the recorded values they retrace."""
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from .build_default import suite_entry
    from .history import load_table, save_table

    steps = [int(s) for s in steps]
    if not steps or steps != sorted(set(steps)) or steps[0] <= 0:
        raise ValueError(f"steps must be increasing positive step counts, got {steps}")
    suite_entry(variant)  # fails early, naming the variants, before any process starts
    table = load_table(table_path)
    short = pending(table, variant, steps)
    journal = journal_path(table_path, variant)
    done = read_journal(journal, steps)
    key = {i: (str(table.at[i, "study"]), int(table.at[i, "number"])) for i, _ in short}
    todo = [(i, c) for i, c in short if key[i] not in done][:limit]
    already = sum(key[i] in done for i, _ in short)
    summary: Dict[str, Any] = {"task": variant, "steps": steps, "short": len(short), "journaled": already,
                               "trained": 0, "table_updated": False}
    if todo:
        journal.parent.mkdir(parents=True, exist_ok=True)
        with ProcessPoolExecutor(max_workers=max(1, jobs), initializer=_init_worker, initargs=(variant,)) as pool, \
                journal.open("a") as out:
            futures = [pool.submit(_train, i, config, steps, seed) for i, config in todo]
            for future in as_completed(futures):
                index, run = future.result()
                study, number = key[index]
                entry = dict(run, schema=JOURNAL_SCHEMA, study=study, number=number, steps=steps,
                             recorded=[float(v) for v in table.at[index, "fidelity_values"]],
                             finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
                out.write(json.dumps(entry) + "\n")
                out.flush()
                os.fsync(out.fileno())
                done[(study, number)] = entry
                summary["trained"] += 1
                log(f"{variant} {study} #{number}: {run['outcome']} {[round(v, 4) for v in run['values']]} "
                    f"(recorded {[round(v, 4) for v in entry['recorded']]}; {run['wall_time_s']:.0f}s) "
                    f"[{already + summary['trained']}/{len(short)}]")
    diffs = [prefix_diff(done[key[i]]["recorded"], done[key[i]]["values"]) for i, _ in short if key[i] in done]
    summary["largest_prefix_diff"] = max((math.inf if d is None else d for d in diffs), default=None)
    summary["prefix_changed"] = sum(d is None or d > 0 for d in diffs)
    if short and all(key[i] in done for i, _ in short):
        for i, _ in short:
            apply_run(table, i, steps, done[key[i]])
        save_table(table, table_path)
        journal.unlink()
        summary["table_updated"] = True
        summary["not_complete"] = int(sum(table.at[i, "outcome"] != "complete" for i, _ in short))
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", required=True, help="a default-suite variant, e.g. sst2_minilm@n4000")
    parser.add_argument("--steps", required=True, help="cumulative training steps with a validation each, "
                        "the recorded ones first (e.g. 8,24,96)")
    parser.add_argument("--table", default="histories/default.parquet")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None, help="deepen at most this many configs in this run")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    try:
        steps = [int(s) for s in args.steps.split(",")]
    except ValueError:
        parser.error(f"--steps '{args.steps}' is not a comma-separated list of step counts")
    t0 = time.monotonic()
    try:
        summary = deepen(args.table, args.task, steps, jobs=args.jobs, limit=args.limit,
                         log=lambda line: print(line, flush=True))
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary["wall_s"] = round(time.monotonic() - t0, 1)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
