"""``hpo-agent histories`` (workstation): history stores as tables."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("histories")
def command():
    """Work with history stores as tables (import them with `hpo-agent import`)."""


@command.command("export")
@click.option("--storage", default="histories.db", show_default=True, help="SQLite file or SQLAlchemy URL.")
@click.option("-o", "--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="CSV or Parquet file (by suffix).")
@click.option("--task", "tasks", multiple=True, help="Only these tasks; repeat for several.")
def export_command(storage, out_path, tasks):
    """Write every finished trial of a history store as one table: task, param.*, mf.*, value,
    direction, outcome, costs, fidelities and the search space, which `hpo-agent import` reads
    back with no options."""
    try:
        from ...trainer.importing import export_table
    except ImportError as exc:
        raise click.ClickException(f"histories export needs the workstation extra ({exc.name} is missing): "
                                   "pip install 'hpo-agent[workstation]'")
    from . import CliError, UsageFailure

    try:
        rows = export_table(storage, out_path, tasks)
    except FileNotFoundError as exc:
        raise UsageFailure(str(exc))
    except ValueError as exc:
        raise CliError(str(exc))
    click.echo(f"wrote {rows} trial(s) to {out_path}")
