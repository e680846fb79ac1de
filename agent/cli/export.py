"""``hpo-agent export`` (workstation): fitted meta-model → self-describing ONNX, with a parity check."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("export")
@click.argument("fitted", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--out", "out_path", type=click.Path(path_type=Path), default=Path("metamodel.onnx"), show_default=True)
@click.option("--tolerance", type=float, default=1e-4, show_default=True, help="Max abs difference allowed vs scikit-learn.")
def command(fitted, out_path, tolerance):
    """Convert FITTED (written by `hpo-agent fit`) to ONNX, check it against scikit-learn on
    held-out rows, and write it with its metadata."""
    try:
        from ...export import ParityError, export_onnx
        from ...trainer.fit import load_fitted
    except ImportError as exc:
        raise click.ClickException(f"export needs the workstation extra ({exc.name} is missing): "
                                   "pip install 'hpo-agent[workstation]'")
    from . import CliError

    try:
        model = load_fitted(fitted)
    except ValueError as exc:
        raise CliError(str(exc))
    try:
        result = export_onnx(model, out_path, tolerance)
    except ParityError as exc:
        raise CliError(str(exc))
    click.echo(f"parity: max abs difference {result.max_abs_diff:.3g} on {result.parity_rows} held-out rows "
               f"(tolerance {result.tolerance:g})")
    click.echo(f"wrote {result.path} ({result.size_bytes / 1024:.0f} KiB)")
