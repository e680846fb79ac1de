"""``hpo-agent import`` (workstation): others' histories (a table or an Optuna study) → history store."""

from __future__ import annotations

from pathlib import Path

import click

from . import UsageFailure


@click.command("import")
@click.argument("table", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--storage", default="histories.db", show_default=True, help="History store to write: SQLite file or SQLAlchemy URL.")
@click.option("--space", "space_file", default=None,
              help="Search-space file, YAML or JSON: a list of params with name, type (int, float, categorical), "
                   "low/high or choices, log. 'default' is the built-in space. Exported tables carry theirs.")
@click.option("--direction", type=click.Choice(["max", "min"]), default=None,
              help="Whether a higher or lower objective is better (exported tables carry it).")
@click.option("--task-column", default="task", show_default=True)
@click.option("--objective-column", "--objective", "objective_column", default="value", show_default=True)
@click.option("--cost-column", default=None, help="Cost per trial, taken as wall-clock seconds (default: wall_time_s if present).")
@click.option("--meta-columns", default=None,
              help="Comma-separated meta-feature columns (default: the mf.* columns, else every other numeric column).")
@click.option("--metric", default=None, help="Name of the objective (default: the objective column's name).")
@click.option("--model-family", default="imported", show_default=True, help="Recorded in study names (task|family|device).")
@click.option("--device-class", default="any", show_default=True, help="Recorded in study names.")
@click.option("--skip-invalid", is_flag=True, help="Leave out rows whose config does not fit the search space.")
@click.option("--from-optuna-storage", "optuna_storage", default=None,
              help="Import an existing Optuna study from this storage URL (or SQLite file) instead of a table.")
@click.option("--study", "study", default=None, help="The study to import (with --from-optuna-storage).")
@click.option("--from-tune-run", "tune_run", default=None, type=click.Path(exists=True, path_type=Path),
              help="Import a `hpo-agent tune` run (its --out/<task> directory or its journal.jsonl): "
                   "each trial's rung-0 score becomes one history trial.")
@click.option("--task", default=None, help="Task name for the imported study (default: the study's name).")
@click.option("--meta", "meta", multiple=True, metavar="NAME=VALUE",
              help="A meta-feature of the imported study's task; repeat (with --from-optuna-storage).")
def command(table, storage, space_file, direction, task_column, objective_column, cost_column, meta_columns, metric,
            model_family, device_class, skip_invalid, optuna_storage, study, tune_run, task, meta):
    """Import others' histories into a history store, in collect's layout, so that `hpo-agent
    fit`, `evaluate` and `export` use them unchanged.

    \b
    A table (CSV or Parquet), one row per trial:
      hpo-agent import runs.csv --space space.yaml --objective accuracy --direction max \\
          --cost-column seconds --storage histories.db
    An Optuna study:
      hpo-agent import --from-optuna-storage sqlite:///old.db --study s1 --task cifar_small \\
          --meta n_train=50000 --meta n_classes=10 --storage histories.db
    A device's tune run (its journal carries task, meta-features and space):
      hpo-agent import --from-tune-run hpo-runs/ag_news --storage histories.db

    Meta-features are the table's own columns (any names; constant within a task); a meta-model
    fitted on them is queried with the same names. Rerunning an import adds nothing twice."""
    try:
        from ...trainer import importing
    except ImportError as exc:
        raise click.ClickException(f"import needs the workstation extra ({exc.name} is missing): "
                                   "pip install 'hpo-agent[workstation]'")
    from . import CliError

    if sum(x is not None for x in (table, optuna_storage, tune_run)) != 1:
        raise UsageFailure("give one of: a TABLE (CSV or Parquet), --from-optuna-storage URL --study NAME, "
                           "--from-tune-run DIR")
    if optuna_storage is not None and not study:
        raise UsageFailure("--from-optuna-storage needs --study NAME")
    if table is not None and (study or meta or task):
        raise UsageFailure("--study, --task and --meta go with --from-optuna-storage; a table has its own columns")
    features = {}
    for item in meta:
        name, sep, value = item.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            features[name.strip()] = float(value)
        except ValueError:
            raise UsageFailure(f"--meta '{item}' must be NAME=NUMBER, e.g. --meta n_train=50000")
    try:
        space = importing.load_space(space_file) if space_file else None
        if tune_run is not None:
            from ...trainer.journals import import_tune_run

            result = import_tune_run(tune_run, storage)
        elif table is not None:
            result = importing.import_table(
                table, storage, space, direction, task_column=task_column, objective_column=objective_column,
                cost_column=cost_column, meta_columns=[c.strip() for c in meta_columns.split(",") if c.strip()]
                if meta_columns else None, metric=metric, model_family=model_family, device_class=device_class,
                skip_invalid=skip_invalid)
        else:
            result = importing.import_optuna_study(optuna_storage, study, storage, task, features, space,
                                                   model_family=model_family, device_class=device_class,
                                                   metric=metric, skip_invalid=skip_invalid)
            if direction is not None:
                click.echo("note: --direction is ignored for an Optuna study (it has its own)", err=True)
    except ValueError as exc:
        raise CliError(str(exc))
    for name, counts in result.studies.items():
        extra = "".join(f", {counts[k]} {label}" for k, label in (("present", "already present"),
                                                                  ("failed", "failed/pruned"),
                                                                  ("invalid", "invalid skipped")) if counts[k])
        click.echo(f"· {name}: {counts['added']} trial(s) added{extra}")
    kind = "custom" if result.meta_feature_version == "custom" else f"built-in v{result.meta_feature_version}"
    click.echo(f"meta-features ({kind}): {', '.join(result.meta_feature_names)}")
    click.echo(f"search space: {', '.join(result.space.names)}")
    if result.ignored_columns:
        click.echo(f"ignored columns: {', '.join(result.ignored_columns)}")
    click.echo(f"imported {result.added} trial(s) into {len(result.studies)} stud{'y' if len(result.studies) == 1 else 'ies'} "
               f"of {storage}  (next: hpo-agent fit --storage {storage})")
