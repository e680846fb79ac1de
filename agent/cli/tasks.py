"""``hpo-agent tasks``: list the tasks that ``--task`` accepts."""

from __future__ import annotations

import click


@click.command("tasks")
def command():
    """List the tasks that --task accepts."""
    from ..tasks import task_help, task_names

    for name in task_names():
        click.echo(f"{name:<16} {task_help(name)}")
