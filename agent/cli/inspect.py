"""``hpo-agent inspect``: print an ONNX meta-model's self-describing metadata."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("inspect")
@click.argument("model", type=click.Path(path_type=Path), required=False)
def command(model):
    """Show the metadata of MODEL (default: the meta-model shipped in the package)."""
    from ..metamodel import MetaModel, MetaModelError
    from . import CliError

    try:
        meta = MetaModel.load(model).meta
    except MetaModelError as exc:
        raise CliError(str(exc))
    click.echo(json.dumps(meta, indent=2))
