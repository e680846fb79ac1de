"""The ``hpo-agent`` command line: a thin shell over the library.

Commands are imported lazily, one module each, so ``hpo-agent --help`` imports click and
nothing heavy. Errors end as one line on stderr: exit 2 for usage errors (bad option values, a
task option the task does not take), 1 for runtime failures (a data file that cannot be used, a
corrupt meta-model); ``hpo-agent --debug ...`` shows tracebacks instead.
"""

from __future__ import annotations

import importlib
import sys
from typing import Optional

import click

from ..errors import DataError, StorageError, TaskOptionError

# name → (module, short help). Help text lives here so `--help` need not import any command.
COMMANDS = {
    "tune": ("tune", "Tune a task on this device within a wall-clock budget."),
    "devices": ("devices", "Show this device, its resources, and the known device profiles."),
    "tasks": ("tasks", "List the tasks that --task accepts."),
    "collect": ("collect", "Workstation: train configs on tasks into a history store."),
    "fit": ("fit", "Workstation: fit a meta-model on a history store."),
    "export": ("export", "Workstation: export a fitted meta-model to ONNX and check parity."),
    "evaluate": ("evaluate", "Workstation: leave-one-task-out regret of meta-models vs baselines."),
    "import": ("import_", "Workstation: import others' histories (CSV/Parquet table or Optuna study)."),
    "histories": ("histories", "Workstation: export a history store as a CSV/Parquet table."),
    "inspect": ("inspect", "Show the metadata of an ONNX meta-model."),
}


class CliError(click.ClickException):
    """A runtime failure reported as one line (exit code 1)."""

    exit_code = 1


class UsageFailure(click.UsageError):
    """A bad option value found after parsing (exit code 2)."""


class _Root(click.Group):
    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module = importlib.import_module(f"{__name__}.{COMMANDS[name][0]}")
        return getattr(module, "command")

    def format_commands(self, ctx, formatter):
        rows = [(name, help_) for name, (_, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        argv = list(sys.argv[1:] if args is None else args)
        debug = "--debug" in argv[:1] or (argv and argv[0] == "--debug")
        try:
            rv = super().main(args=argv, prog_name=prog_name or "hpo-agent", complete_var=complete_var,
                              standalone_mode=False, **extra)
        except click.exceptions.Exit as exc:
            return _exit(exc.exit_code, standalone_mode)
        except click.UsageError as exc:
            if debug:
                raise
            click.echo(f"hpo-agent: error: {_one_line(exc.format_message())}", err=True)
            return _exit(2, standalone_mode)
        except click.ClickException as exc:
            if debug:
                raise
            click.echo(f"hpo-agent: error: {_one_line(exc.format_message())}", err=True)
            return _exit(exc.exit_code, standalone_mode)
        except (TaskOptionError, DataError, StorageError) as exc:  # raised on purpose; the message says it all
            if debug:
                raise
            click.echo(f"hpo-agent: error: {_one_line(str(exc))}", err=True)
            return _exit(2 if isinstance(exc, TaskOptionError) else 1, standalone_mode)
        except click.exceptions.Abort:
            click.echo("hpo-agent: interrupted", err=True)
            return _exit(130, standalone_mode)
        except KeyboardInterrupt:
            click.echo("hpo-agent: interrupted (finished trials are in the journal; rerun with --resume)", err=True)
            return _exit(130, standalone_mode)
        except Exception as exc:
            if debug:
                raise
            click.echo(f"hpo-agent: error: {type(exc).__name__}: {_one_line(str(exc))} "
                       "(run `hpo-agent --debug ...` for the traceback)", err=True)
            return _exit(1, standalone_mode)
        return _exit(rv if isinstance(rv, int) else 0, standalone_mode)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _exit(code: int, standalone_mode: bool):
    if standalone_mode:
        sys.exit(code)
    return code


@click.group(cls=_Root, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.version_option(package_name="hpo-agent", prog_name="hpo-agent")
def cli(debug: bool) -> None:
    """hpo-agent: tune deep-learning hyperparameters on small GPU boxes in minutes,
    using a meta-model learned from earlier runs.

    \b
    Device:       hpo-agent tune --task digits --budget 2m
    Workstation:  hpo-agent collect → fit → export
    """


def main(argv: Optional[list] = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="hpo-agent")
