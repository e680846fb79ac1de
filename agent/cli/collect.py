"""``hpo-agent collect`` (workstation): train a design of configs on tasks into a history store."""

from __future__ import annotations

import click

from . import UsageFailure


def _workstation():
    try:
        from ...trainer import collect as collect_lib
    except ImportError as exc:
        raise click.ClickException(f"collect needs the workstation extra ({exc.name} is missing): "
                                   "pip install 'hpo-agent[workstation]'")
    return collect_lib


@click.command("collect")
@click.option("--task", "tasks", multiple=True, required=True, help="Task name; repeat for several.")
@click.option("--storage", default="histories.db", show_default=True, help="SQLite file or SQLAlchemy URL.")
@click.option("--design", type=click.Choice(["grid", "random", "sobol"]), default="random", show_default=True)
@click.option("--n-configs", type=click.IntRange(1), default=20, show_default=True, help="Configs per task.")
@click.option("--fidelities", default="20,60,180", show_default=True,
              help="Comma-separated cumulative training steps at which validation is recorded.")
@click.option("--max-train", type=click.IntRange(1), default=None, help="Training examples per task (subset).")
@click.option("--max-trials", type=click.IntRange(1), default=None, help="Stop this worker after N trials.")
@click.option("--data-dir", default=None, help="Local dataset mirror for hub tasks.")
@click.option("--device-class", default="cpu", show_default=True, help="Device class recorded in study names.")
@click.option("--threads", type=click.IntRange(0), default=1, show_default=True,
              help="Torch threads per worker (0: torch's default). Run one worker per core instead.")
@click.option("--seed", type=int, default=0, show_default=True)
def command(tasks, storage, design, n_configs, fidelities, max_train, max_trials, data_dir, device_class, threads,
            seed):
    """Train configs on tasks and record every trial (metric at each fidelity, time, memory,
    outcome) in an Optuna storage. Rerunning runs only what is missing; several workers may share
    one store."""
    lib = _workstation()
    from ..tasks import is_task_name, task_names

    unknown = [t for t in tasks if not is_task_name(t)]
    if unknown:
        raise UsageFailure(f"unknown task(s) {', '.join(unknown)}; known tasks: {', '.join(task_names())}")
    try:
        steps = tuple(int(s) for s in fidelities.split(","))
        if not steps or any(s <= 0 for s in steps) or list(steps) != sorted(set(steps)):
            raise ValueError
    except ValueError:
        raise UsageFailure(f"--fidelities '{fidelities}' must be increasing positive step counts, e.g. 20,60,180")
    opts = lib.CollectOptions(tasks=tasks, storage=storage, design=design, n_configs=n_configs, fidelity_steps=steps,
                              seed=seed, device_class=device_class, max_train=max_train, max_trials=max_trials,
                              threads=threads or None,
                              task_options={"data_dir": data_dir} if data_dir else {})

    def progress(event, **info):
        if event == "task":
            click.echo(f"· {info['study']}: {info['enqueued']} new config(s) enqueued", err=True)
        elif event == "trial":
            value = "-" if info["value"] is None else f"{info['value']:.4f}"
            click.echo(f"  {info['task']} #{info['number']}: {info['outcome']} {value} ({info['seconds']:.1f}s)", err=True)

    counts = lib.collect(opts, progress)
    click.echo(f"ran {sum(counts.values())} trial(s): " + ", ".join(f"{k} {v}" for k, v in counts.items()))
