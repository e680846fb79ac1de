"""``hpo-agent evaluate`` (workstation): leave-one-task-out report over a history store."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("evaluate")
@click.option("--storage", default="histories.db", show_default=True, help="SQLite file, SQLAlchemy URL, or a .csv/.parquet history table.")
@click.option("--out", "out_path", type=click.Path(path_type=Path), default=None, help="Write the JSON result here.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--nested", is_flag=True, help="Also score the learner-choosing rule itself: on each held-out task, the "
              "learner fit --learner auto picks from the other tasks alone (row fit_auto; about 10x slower).")
def command(storage, out_path, seed, nested):
    """For every task, fit on the others and score how well each method ranks the held-out
    task's configs: best-of-k normalised regret (k = 1, 3, 5, 10) of the top-k and, as spread@k,
    of the k configs tune would verify (near-duplicates passed over), Spearman correlation and a
    cost-capped regret, for the meta-model learners and the average-rank, nearest-task and random
    baselines."""
    try:
        from ...trainer.evaluate import evaluate_loto, render
        from ...trainer.history import load_histories
    except ImportError as exc:
        raise click.ClickException(f"evaluate needs the workstation extra ({exc.name} is missing): "
                                   "pip install 'hpo-agent[workstation]'")
    from . import CliError, UsageFailure

    try:
        result = evaluate_loto(load_histories(storage), seed=seed, nested=nested)
    except FileNotFoundError as exc:
        raise UsageFailure(str(exc))
    except ValueError as exc:
        raise CliError(str(exc))
    click.echo(render(result))
    if out_path is not None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(result, indent=1) + "\n")
        click.echo(f"wrote {out_path}")
