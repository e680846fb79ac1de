"""``hpo-agent tune``: the device-side command."""

from __future__ import annotations

import os
import time
from pathlib import Path

import click

from . import CliError, UsageFailure
from .options import BRACKETS, DURATION, MEMORY


@click.command("tune")
@click.option("--task", default="digits", show_default=True, help="Task name (see `hpo-agent tasks`).")
@click.option("--budget", type=DURATION, required=True, help="Wall-clock budget: 90s, 30m, 1h30m, 1.5h.")
@click.option("--model", "model_path", type=click.Path(path_type=Path), default=None,
              help="ONNX meta-model (default: the one shipped in the package).")
@click.option("--candidates", type=click.IntRange(1, 729), default=9, show_default=True,
              help="Configs verified in successive halving's first rung.")
@click.option("--eta", type=click.IntRange(2, 10), default=3, show_default=True,
              help="Reduction factor: keep the best 1/eta of each rung.")
@click.option("--brackets", type=BRACKETS, default="auto", show_default=True,
              help="Successive-halving brackets sharing the budget; each after the first verifies new configs, "
                   "re-ranked by the results so far, in Hyperband's cycle of sizes (9, 3, 1: fewer configs, "
                   "each trained longer). auto: up to 3, as many as still give each first-rung trial about "
                   "20 steps at the meta-model's predicted step time (--resume keeps the run's own number).")
@click.option("--min-budget", type=DURATION, default=None,
              help="Training time per trial in the first rung (default: sized to fit the budget); a budget "
                   "that cannot train --candidates trials this long is a usage error.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("hpo-runs"), show_default=True,
              help="Folder for runs: journal, checkpoints and report go in OUT/<task>/.")
@click.option("--resume", is_flag=True, help="Continue the run in OUT/<task>/, keeping its finished trials.")
@click.option("--memory-limit", type=MEMORY, default=None, help="Cap the memory budget, e.g. 3.5GB or 512MiB.")
@click.option("--device", "device_profile", default=None, help="Emulate a device profile's memory (see `hpo-agent devices`).")
@click.option("--max-train", type=click.IntRange(1), default=None, help="Use at most this many training examples.")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Local dataset mirror (e.g. ../shared/data) for tasks that load from the hub.")
@click.option("--task-option", "task_option", multiple=True, metavar="KEY=VALUE",
              help="Task option, e.g. model=minilm or max_length=64 (repeatable; see docs/tasks.md).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--quiet", is_flag=True, help="Only print the final table.")
def command(task, budget, model_path, candidates, eta, brackets, min_budget, out_dir, resume, memory_limit, device_profile,
            max_train, data_dir, task_option, seed, quiet):
    """Tune TASK within BUDGET: score configs with the meta-model, verify the best with
    successive halving, and report the winner (report.json in OUT/<task>/)."""
    started = time.monotonic()  # the budget counts from here, heavy imports included
    from .. import tune as tune_lib
    from ..journal import JournalError
    from ..metamodel import MetaModelError
    from ..report import build_report, render_table, write_report
    from ..tasks import is_task_name, parse_task_option, task_names

    if not is_task_name(task):
        raise UsageFailure(f"unknown task '{task}'; known tasks: {', '.join(task_names())}")
    try:  # a folder that cannot hold the journal fails now, not after the set-up
        out_dir.mkdir(parents=True, exist_ok=True)
        writable = os.access(out_dir, os.W_OK | os.X_OK)
    except OSError as exc:
        raise UsageFailure(f"--out {out_dir} cannot be created ({exc.strerror or exc}); give a writable folder")
    if not writable:
        raise UsageFailure(f"--out {out_dir} is not writable; give a writable folder")
    if device_profile is not None:
        from ... import devices

        try:
            devices.load_profile(device_profile)
        except ValueError as exc:
            raise UsageFailure(str(exc))
    task_options = {}
    for text in task_option:
        try:
            key, value = parse_task_option(text)
        except ValueError as exc:
            raise UsageFailure(str(exc))
        task_options[key] = value
    if max_train is not None:
        task_options["max_train"] = max_train
    if data_dir is not None:
        task_options["data_dir"] = str(data_dir)
    opts = tune_lib.TuneOptions(task=task, budget_s=budget, out_dir=out_dir, model_path=model_path,
                                n_candidates=candidates, eta=eta, brackets=brackets, min_budget_s=min_budget,
                                seed=seed,
                                resume=resume, memory_limit_bytes=memory_limit, device_profile=device_profile,
                                task_options=task_options, started_at=started)
    given = {name: value for name, value in (("candidates", candidates), ("eta", eta), ("brackets", brackets),
                                             ("seed", seed))
             if click.get_current_context().get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE}
    progress = (lambda *a, **k: None) if quiet else _Progress(given if resume else {})
    try:
        state = tune_lib.run_tune(opts, progress)
    except tune_lib.BudgetError as exc:
        raise UsageFailure(str(exc))
    except (tune_lib.TuneError, MetaModelError, JournalError) as exc:
        state = getattr(exc, "state", None)
        if state is not None:
            path = write_report(build_report(state), state.run_dir / "report.json")
            raise CliError(f"{exc} (report: {path})")
        raise CliError(str(exc))
    report = build_report(state)
    path = write_report(report, state.run_dir / "report.json")
    click.echo(render_table(report))
    click.echo(f"report: {path}")


class _Progress:
    """Renders library progress events as short lines on stderr. ``given``: the run-shaping options
    typed on this command line, which a resumed run does not take (it keeps its own)."""

    def __init__(self, given=None):
        self.given = dict(given or {})

    def __call__(self, event: str, **info) -> None:
        say = lambda text: click.echo(text, err=True)  # noqa: E731
        if event == "phase":
            say(f"· {info['name']}")
        elif event == "candidates":
            say(f"· scored {info['scored']} configs; verifying the best {len(info['candidates'])}"
                + (f" ({len(info['skipped'])} skipped for memory)" if info["skipped"] else ""))
        elif event == "brackets" and (info["auto"] or info["brackets"] > 1):
            n = info["brackets"]
            say(f"· {n} bracket{'s' if n > 1 else ''} of successive halving"
                + (f" (--brackets auto: as many as leave each first-rung trial ~{info['min_steps']} steps, "
                   f"up to {info['max_brackets']})" if info["auto"] else ""))
        elif event == "bracket":
            n = len(info["candidates"])
            say(f"· bracket {info['bracket'] + 1}/{info['brackets']}: verifying {n} untried "
                f"config{'' if n == 1 else 's'}, re-ranked by the results so far")
        elif event == "probe":
            say(f"· memory probe (one step): estimate {info['estimated_bytes'] / 2**20:.0f} MiB near the budget")
        elif event == "rung":
            say(f"· rung {info['rung'] + 1}/{info['rungs']}: {info['trials']} trial(s), "
                f"{info['unit_seconds']:.1f}s per unit of training")
        elif event == "trial_end":
            r, metric = info["result"], info["metric"]
            score = "-" if r.score is None else f"{r.score:.4f}"
            say(f"  trial {r.trial_id:>2} rung {r.rung}: {r.outcome:<8} val {metric.name} {score}  "
                f"({r.steps} steps, {r.train_seconds:.1f}s)" + (f"  {r.error}" if r.error else ""))
        elif event == "resume":
            own = info["settings"]
            ignored = [f"--{k} {v}" for k, v in self.given.items() if k in own and str(v) != str(own[k])]
            say(f"· resuming {info['path']}: {info['finished']} finished rung result(s) kept; the run keeps its own "
                + ", ".join(f"{k} {v}" for k, v in own.items())
                + (f" (ignored: {', '.join(ignored)})" if ignored else ""))
        elif event == "deadline":
            say("· budget reached: reporting the best trial so far")
