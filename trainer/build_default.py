"""Rebuild the meta-model shipped in the package: collect → fit → export on the embedded tasks.

    python -m hpo_agent.trainer.build_default [--storage histories/default.db] [--quick]

Collection is resumable (Optuna storage; rerun continues where it stopped). The histories are
also written as a CSV next to the store (``histories/default.csv``) so they can be committed
and read without a database. The meta-model lands in ``agent/data/default_metamodel.onnx``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

FIDELITY_STEPS = (20, 60, 180)
# A pretrained MiniLM step costs ~1-2 s here (vs ~0.02 s for the digits CNN): text trials record
# fewer, shorter fidelities. What transfers from them is mostly which learning rates and optimizers
# fine-tune a pretrained encoder at all, which 24 steps already show.
TEXT_FIDELITY_STEPS = (8, 24)
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


# Task variants that differ in modality, size, input, model. The three small tabular tasks also
# get the seed's full grid (729 configs): the replay benchmark (benchmarks/replay.py) needs every
# grid config's recorded result on a task. Text tasks need HPO_AGENT_DATA_DIR (or hub access);
# without data they are skipped with a message.
DEFAULT_SUITE = (
    SuiteEntry("digits", None, 60),
    SuiteEntry("digits", 300, 60),
    SuiteEntry("breast_cancer", None, 40),
    SuiteEntry("wine", None, 40),
    SuiteEntry("iris", None, 40),
    SuiteEntry("iris", None, 729, "grid"),
    SuiteEntry("wine", None, 729, "grid"),
    SuiteEntry("breast_cancer", None, 729, "grid"),
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
    parser.add_argument("--csv", default="histories/default.csv")
    parser.add_argument("--out", default=str(PACKAGE_MODEL))
    parser.add_argument("--quick", action="store_true", help="5 configs per task (smoke test)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", action="append", metavar="TASK",
                        help="collect only this suite task (repeatable; several workers can split the suite)")
    parser.add_argument("--no-fit", action="store_true", help="collect only; fit and export later")
    parser.add_argument("--no-collect", action="store_true", help="fit and export from the store as it is")
    args = parser.parse_args(argv)

    from ..export import export_onnx
    from .collect import CollectOptions, collect
    from .fit import fit_metamodel
    from .history import load_histories, save_table

    Path(args.storage).parent.mkdir(parents=True, exist_ok=True)
    wanted = set(args.only or [])
    for entry in DEFAULT_SUITE:
        if args.no_collect or (wanted and entry.task not in wanted):
            continue
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
        save_table(load_histories(args.storage), args.csv)  # commit-able progress after every task
    if args.no_fit:
        return 0
    frame = load_histories(args.storage)
    save_table(frame, args.csv)
    fitted = fit_metamodel(frame, learner="auto", seed=args.seed)
    result = export_onnx(fitted, Path(args.out))
    print(json.dumps({"rows": fitted.provenance["rows"], "tasks": fitted.provenance["tasks"],
                      "validation": {k: v for k, v in fitted.validation.items() if k != "per_task"},
                      "parity_max_abs_diff": result.max_abs_diff, "file": str(result.path),
                      "size_bytes": result.size_bytes}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
