"""``hpo-agent fit`` (workstation): fit a meta-model on a history store."""

from __future__ import annotations

import json
from pathlib import Path

import click


# The names of trainer/learners.py's LEARNERS, spelled out so that --help imports no numpy
# (tests/test_loto.py checks they agree).
LEARNER_CHOICES = ("gbm", "gbm_balanced", "forest")


@click.command("fit")
@click.option("--storage", default="histories.db", show_default=True, help="SQLite file, SQLAlchemy URL, or a .csv/.parquet history table.")
@click.option("--out", "out_path", type=click.Path(path_type=Path), default=Path("metamodel.joblib"), show_default=True)
@click.option("--learner", type=click.Choice(["auto", *LEARNER_CHOICES]), default="gbm", show_default=True,
              help="auto: the learner whose leave-one-task-out ranking correlates best with the held-out "
                   "tasks' results (mean Spearman).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--memory-table", type=click.Path(path_type=Path), default=None,
              help="measured working sets (python -m hpo_agent.trainer.build_default --memory writes "
                   "histories/memory.csv) for the memory model; without it, the collected trials whose working "
                   "set covers training only (working_set_scope 'train').")
def command(storage, out_path, learner, seed, memory_table):
    """Fit the performance meta-model (task meta-features + config → per-task rank) and print its
    leave-one-task-out validation."""
    try:
        from ...trainer.fit import fit_metamodel, save_fitted
        from ...trainer.history import load_histories, load_table
        from ...trainer.memory import memory_rows
    except ImportError as exc:
        raise click.ClickException(f"fit needs the workstation extra ({exc.name} is missing): "
                                   "pip install 'hpo-agent[workstation]'")
    from . import CliError, UsageFailure

    try:
        frame = load_histories(storage)
        memory = memory_rows(frame, load_table(memory_table) if memory_table is not None else None)
        fitted = fit_metamodel(frame, learner=learner, seed=seed, memory=memory)
    except FileNotFoundError as exc:
        raise UsageFailure(str(exc))
    except ValueError as exc:
        raise CliError(str(exc))
    save_fitted(fitted, out_path)
    click.echo(f"fitted {learner} on {fitted.provenance['rows']} trials of {len(fitted.provenance['tasks'])} task(s)")
    if fitted.validation:
        v = fitted.validation
        click.echo(f"leave-one-task-out: mean top-1 regret {v['mean_regret_top1']}, mean Spearman {v['mean_spearman']}")
        click.echo(json.dumps(v["per_task"], indent=1))
    cost = fitted.aux.get("cost")
    if cost is not None:
        v = cost.validation
        detail = (f"; leave-one-task-out median |log10 error| {v['mean_median_abs_log10_error']:.3f}, "
                  f"{v['mean_median_abs_log10_error_calibrated']:.3f} after one calibrating trial, within-task "
                  f"Spearman {v['mean_spearman']:.2f}") if v else ""
        click.echo(f"cost model: {cost.target['name']}{detail}")
    else:
        click.echo("cost model: none (fewer than 20 trials with recorded training times)")
    mem = fitted.validation.get("memory")
    if mem:
        verdict = "shipped" if mem["shipped"] else "not shipped: it does not beat the analytic estimate"
        click.echo(f"memory model ({verdict}): leave-one-task-out median error of the total "
                   f"{100 * mem['mean_median_total_error']:.1f} % vs {100 * mem['mean_median_total_error_analytic']:.1f} % "
                   f"for the analytic estimate alone (working set |log10 error| {mem['mean_median_abs_log10_error']:.3f} "
                   f"vs {mem['mean_median_abs_log10_error_analytic']:.3f})")
    click.echo(f"saved: {out_path}  (next: hpo-agent export {out_path})")
