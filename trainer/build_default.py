"""Rebuild the meta-model shipped in the package: collect → fit → export on the embedded tasks.

    python -m hpo_agent.trainer.build_default [--storage histories/default.db] [--quick]

Collection is resumable (Optuna storage; rerun continues where it stopped). The histories are
also written as a CSV next to the store (``histories/default.csv``) so they can be committed
and read without a database. The meta-model lands in ``agent/data/default_metamodel.onnx``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

# (task, training-set cap or None, configs, design) — task variants that differ in modality, size,
# input. The three small tabular tasks also get the seed's full grid (729 configs): the replay
# benchmark (benchmarks/replay.py) needs every grid config's recorded result on a task.
DEFAULT_SUITE = (
    ("digits", None, 60, "random"),
    ("digits", 300, 40, "random"),
    ("digits_x2", None, 20, "random"),
    ("breast_cancer", None, 40, "random"),
    ("wine", None, 40, "random"),
    ("iris", None, 40, "random"),
    ("iris", None, 729, "grid"),
    ("wine", None, 729, "grid"),
    ("breast_cancer", None, 729, "grid"),
)
FIDELITY_STEPS = (20, 60, 180)
PACKAGE_MODEL = Path(__file__).resolve().parent.parent / "agent" / "data" / "default_metamodel.onnx"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--storage", default="histories/default.db")
    parser.add_argument("--csv", default="histories/default.csv")
    parser.add_argument("--out", default=str(PACKAGE_MODEL))
    parser.add_argument("--quick", action="store_true", help="5 configs per task (smoke test)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from ..export import export_onnx
    from .collect import CollectOptions, collect
    from .fit import fit_metamodel
    from .history import load_histories, save_table

    Path(args.storage).parent.mkdir(parents=True, exist_ok=True)
    for task, cap, n, design in DEFAULT_SUITE:
        opts = CollectOptions(tasks=[task], storage=args.storage, design=design, n_configs=5 if args.quick else n,
                              fidelity_steps=FIDELITY_STEPS, seed=args.seed, max_train=cap)
        counts = collect(opts, lambda event, **info: print(event, {k: v for k, v in info.items() if k != "config"},
                                                           flush=True))
        print("collected", counts, flush=True)
        save_table(load_histories(args.storage), args.csv)  # commit-able progress after every task
    frame = load_histories(args.storage)
    fitted = fit_metamodel(frame, learner="auto", seed=args.seed)
    result = export_onnx(fitted, Path(args.out))
    print(json.dumps({"rows": fitted.provenance["rows"], "tasks": fitted.provenance["tasks"],
                      "validation": {k: v for k, v in fitted.validation.items() if k != "per_task"},
                      "parity_max_abs_diff": result.max_abs_diff, "file": str(result.path),
                      "size_bytes": result.size_bytes}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
