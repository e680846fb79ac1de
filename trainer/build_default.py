"""Rebuild the meta-model shipped in the package: collect → fit → export on the embedded tasks.

    python -m hpo_agent.trainer.build_default [--storage histories/default.db] [--quick]

Collection is resumable (Optuna storage; rerun continues where it stopped). The histories are
also written as a table next to the store (``histories/default.parquet``: Parquet, zstd; a
``.csv`` path works too) so they can be committed and read without a database. The meta-model
lands in ``agent/data/default_metamodel.onnx``.

The committed table accumulates: each run adds the trials of its store that the table lacks
(``--rewrite-table`` writes it from the store alone). Before collecting a suite entry into a store
that has no study of it, the table's trials of that entry are imported into the store, so that a
fresh clone (or a worker with its own store) tops the designs up instead of rerunning them.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

FIDELITY_STEPS = (20, 60, 180)
# A pretrained MiniLM step costs ~0.5-2 s here (vs ~0.02 s for the digits CNN): text trials record
# fewer, shorter fidelities. They were first collected at 8 and 24 steps, where most configs still
# sat at chance and tied; trainer/deepen.py retrains them to 96 (benchmarks/fidelity_check.py: on
# sst2, configs tied at chance after 24 steps reach 0.68-0.73 by 96), the recorded steps first.
TEXT_FIDELITY_STEPS = (8, 24, 96)
TEXT_OPTIONS = {"max_length": 64, "max_validation": 300}
VISION_FIDELITY_STEPS = (20, 60)  # ResNet-18 on CIFAR-10: ~0.3 s per step of 32 images


@dataclass(frozen=True)
class SuiteEntry:
    """One task variant of the default histories."""

    task: str
    max_train: Optional[int]               # training-set cap (a different variant), None = all
    n_configs: int
    design: str = "random"
    fidelity_steps: Tuple[int, ...] = FIDELITY_STEPS
    options: Dict[str, Any] = field(default_factory=dict)


# Task variants that differ in modality, size, input, model. The three small tabular tasks and
# digits (full and 300 training images) also get the seed's full grid (729 configs): the replay
# benchmark (benchmarks/replay.py) needs every grid config's recorded result on a task, and the
# digits CNN (~3-8 s a trial here) is the one whose grid costs enough, and spreads its scores
# enough, to separate the methods; tabular classification grids tie at the best score. diabetes
# and friedman1 (regressions: validation MSE) are tabular grids whose scores do not tie; with two,
# a held-out regression still has another regression to learn from. Text tasks need
# HPO_AGENT_DATA_DIR (or hub access); without data they are skipped with a message.
DEFAULT_SUITE = (
    SuiteEntry("digits", None, 60),
    SuiteEntry("digits", 300, 60),
    SuiteEntry("breast_cancer", None, 40),
    SuiteEntry("wine", None, 40),
    SuiteEntry("iris", None, 40),
    SuiteEntry("iris", None, 729, "grid"),
    SuiteEntry("wine", None, 729, "grid"),
    SuiteEntry("breast_cancer", None, 729, "grid"),
    SuiteEntry("digits", None, 729, "grid"),
    SuiteEntry("digits", 300, 729, "grid"),
    SuiteEntry("diabetes", None, 40),
    SuiteEntry("diabetes", None, 729, "grid"),
    SuiteEntry("friedman1", None, 60),
    SuiteEntry("friedman1", None, 729, "grid"),
    SuiteEntry("breast_cancer", 150, 60),
    SuiteEntry("wine", 60, 60),
    SuiteEntry("digits_x2", None, 60),
    SuiteEntry("sst2_minilm", 4000, 60, fidelity_steps=TEXT_FIDELITY_STEPS, options=TEXT_OPTIONS),
    SuiteEntry("ag_news_minilm", 4000, 60, fidelity_steps=TEXT_FIDELITY_STEPS, options=TEXT_OPTIONS),
    SuiteEntry("imdb", 4000, 60, fidelity_steps=TEXT_FIDELITY_STEPS, options=dict(TEXT_OPTIONS, model="minilm")),
    SuiteEntry("cifar10", None, 60, fidelity_steps=VISION_FIDELITY_STEPS),
    SuiteEntry("cifar10", 2000, 60, fidelity_steps=VISION_FIDELITY_STEPS),
)
PACKAGE_MODEL = Path(__file__).resolve().parent.parent / "agent" / "data" / "default_metamodel.onnx"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--storage", default="histories/default.db")
    parser.add_argument("--table", "--csv", dest="csv", default="histories/default.parquet",
                        help="the committed history table (.parquet or .csv)")
    parser.add_argument("--out", default=str(PACKAGE_MODEL))
    parser.add_argument("--quick", action="store_true", help="5 configs per task (smoke test)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", action="append", metavar="TASK",
                        help="collect only this suite task (repeatable; several workers can split the suite)")
    parser.add_argument("--no-fit", action="store_true", help="collect only; fit and export later")
    parser.add_argument("--no-collect", action="store_true", help="fit and export from the store as it is")
    parser.add_argument("--rewrite-table", "--rewrite-csv", dest="rewrite_csv", action="store_true",
                        help="write --table from the store alone (default: add the store's trials that it lacks "
                             "to it, and fit on the result)")
    parser.add_argument("--memory", action="store_true",
                        help="also measure working sets of short runs for the memory model (resumable)")
    parser.add_argument("--memory-csv", default="histories/memory.csv")
    args = parser.parse_args(argv)

    from ..export import export_onnx
    from .collect import CollectOptions, collect
    from .fit import fit_metamodel
    from .history import load_histories, load_table, merge_histories, save_table
    from .memory import memory_rows
    from .storage import open_storage

    merge = not args.rewrite_csv and Path(args.csv).is_file()

    def write_csv():  # commit-able progress
        frame = load_histories(args.storage)
        if merge:
            frame = merge_histories(load_table(args.csv), frame)
        save_table(frame, args.csv)
        return frame

    if "://" not in args.storage:  # a file path, not an SQLAlchemy URL
        Path(args.storage).parent.mkdir(parents=True, exist_ok=True)
    open_storage(args.storage)  # creates a fresh store (load_histories only reads existing ones)
    wanted = set(args.only or [])
    for entry in DEFAULT_SUITE:
        if args.no_collect or (wanted and entry.task not in wanted):
            continue
        if merge:  # a fresh store first learns what the committed table holds, so nothing runs twice
            seeded = seed_store(args.storage, load_table(args.csv), variant_id(entry))
            if seeded:
                print(f"seeded {args.storage} with {seeded} committed trial(s) of {variant_id(entry)}", flush=True)
        opts = CollectOptions(tasks=[entry.task], storage=args.storage, design=entry.design,
                              n_configs=5 if args.quick else entry.n_configs, fidelity_steps=entry.fidelity_steps,
                              seed=args.seed, max_train=entry.max_train, task_options=dict(entry.options))
        try:
            counts = collect(opts, lambda event, **info: print(event, {k: v for k, v in info.items() if k != "config"},
                                                               flush=True))
        except (ValueError, ImportError) as exc:  # no data mirror / no pretrained package here
            print(f"skipped {entry.task}: {exc}", flush=True)
            continue
        print("collected", counts, flush=True)
        write_csv()  # after every task
    if args.memory:
        measure_memory(load_histories(args.storage), args.memory_csv, wanted, args.seed,
                       MEMORY_PROBES_PER_TASK if not args.quick else 3)
    if args.no_fit:
        if args.no_collect:
            write_csv()
        return 0
    frame = write_csv()
    memory = memory_rows(frame, load_table(args.memory_csv) if Path(args.memory_csv).is_file() else None)
    fitted = fit_metamodel(frame, learner="auto", seed=args.seed, memory=memory)
    result = export_onnx(fitted, Path(args.out))
    print(json.dumps({"rows": fitted.provenance["rows"], "tasks": fitted.provenance["tasks"],
                      "outputs": sorted(fitted.aux),
                      "validation": {k: v for k, v in fitted.validation.items() if k != "per_task"},
                      "parity_max_abs_diff": result.max_abs_diff, "file": str(result.path),
                      "size_bytes": result.size_bytes}, indent=1))
    return 0


def variant_id(entry: SuiteEntry) -> str:
    """The task name ``collect`` records for a suite entry (a training-set cap makes a variant)."""
    return entry.task if entry.max_train is None else f"{entry.task}@n{entry.max_train}"


def suite_entry(variant: str) -> SuiteEntry:
    """The default suite's entry that records ``variant`` (its task options and training-set cap)."""
    for entry in DEFAULT_SUITE:
        if variant_id(entry) == variant:
            return entry
    names = ", ".join(sorted({variant_id(e) for e in DEFAULT_SUITE}))
    raise ValueError(f"'{variant}' is not a variant of the default suite; its variants are {names}")


def suite_task(variant: str, seed: int = 0):
    """``variant``'s task built as ``collect`` recorded it: the suite entry's options and
    training-set cap, split with ``seed`` (the default suite was collected with seed 0)."""
    from ..agent.tasks import get_task

    entry = suite_entry(variant)
    return get_task(entry.task, seed=seed, max_train=entry.max_train, **entry.options)


def seed_store(storage: str, table, task: str) -> int:
    """Import ``table``'s trials of ``task`` into ``storage`` when the store has no study of that
    task, so that ``collect`` tops its designs up instead of rerunning them (it skips the configs a
    study holds). Returns how many trials were imported (0 when the store already had the task)."""
    import optuna

    from .importing import import_table
    from .storage import open_storage, parse_study_name

    summaries = optuna.get_all_study_summaries(open_storage(storage), include_best_trial=False)
    if any(parse_study_name(s.study_name)["task"] == task for s in summaries):
        return 0
    rows = table[table["task"] == task]
    if not len(rows):
        return 0
    result = import_table(rows.reset_index(drop=True), storage, source=f"committed {task}")
    return sum(c["added"] for c in result.studies.values())


MEMORY_PROBES_PER_TASK = 16


def measure_memory(frame, path: str, wanted, seed: int, per_task: int) -> None:
    """Working sets of ``per_task`` recorded configs per suite variant, in this process (one torch
    thread), appended to the table at ``path`` after each variant; variants already there are skipped."""
    import pandas as pd
    import torch

    from .history import load_table, save_table
    from .memory import probe_configs, probe_memory

    torch.set_num_threads(1)
    table = load_table(path) if Path(path).is_file() else pd.DataFrame()
    done = set(table["task"]) if len(table) else set()
    for entry in DEFAULT_SUITE:
        task_id = variant_id(entry)
        if task_id in done or (wanted and entry.task not in wanted):
            continue
        configs = probe_configs(frame, task_id, per_task)
        if not configs:
            continue
        try:
            task = suite_task(task_id, seed=seed)
            rows = probe_memory(task, task_id, configs, seed=seed)
        except (ValueError, ImportError) as exc:
            print(f"memory: skipped {task_id}: {exc}", flush=True)
            continue
        done.add(task_id)
        table = pd.concat([table, pd.DataFrame(rows)], ignore_index=True)
        save_table(table, path)
        print(f"memory: {task_id} {len(rows)} rows", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
