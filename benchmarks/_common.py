"""Helpers the benchmark scripts share (they run as ``python benchmarks/NAME.py``, so this
directory is on ``sys.path``)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def hpo_agent_exe() -> str:
    """The ``hpo-agent`` console script of this environment (next to its Python when not on PATH)."""
    return shutil.which("hpo-agent") or str(Path(sys.executable).with_name("hpo-agent"))
