"""Regenerate the README's figures from result files (never typed by hand).

    python scripts/update_readme.py

Fills the blocks between ``<!-- figures:NAME -->`` and ``<!-- /figures:NAME -->`` markers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _load(path: Path):
    return json.loads(path.read_text()) if path.exists() else None


def default_model_block() -> str:
    import onnxruntime as ort

    path = ROOT / "agent" / "data" / "default_metamodel.onnx"
    if not path.exists():
        return "_The default meta-model has not been built yet._"
    meta = json.loads(ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
                      .get_modelmeta().custom_metadata_map["hpo_agent"])
    prov, val = meta["provenance"], meta.get("validation") or {}
    rows = ", ".join(f"`{t}` {n}" for t, n in prov["rows_per_task"].items())
    lines = [f"Trained on **{prov['rows']} trials** of {len(prov['tasks'])} task variants ({rows}) recorded "
             f"on this project's CI machine (2 CPU cores) on {prov['date'][:10]}; learner `{meta['learner']}` "
             f"chosen by leave-one-task-out; file size {path.stat().st_size / 1024:.0f} KiB; ONNX/scikit-learn "
             f"parity {meta['parity']['max_abs_diff']:.1e} on {meta['parity']['rows']} rows. Histories: "
             "`histories/default.csv`."]
    ev = _load(ROOT / "benchmarks" / "results" / "evaluate_default.json")
    if ev:
        ks = ev["ks"]
        lines += ["", f"Leave-one-task-out on those histories (`hpo-agent evaluate --storage histories/default.db`; "
                      "mean normalised regret of the best of the top-k picks, 0 = best config found):", "",
                  "| method | " + " | ".join(f"regret@{k}" for k in ks) + " | Spearman |",
                  "|---|" + "---|" * (len(ks) + 1)]
        for method, row in ev["summary"].items():
            lines.append(f"| {method} | " + " | ".join(f"{row[f'regret@{k}']:.3f}" for k in ks)
                         + f" | {row['spearman']:.2f} |")
    job = _load(ROOT / "benchmarks" / "results" / "main_job.json")
    if job:
        metric = "test_accuracy" if "test_accuracy" in job else next(k for k in job if k.startswith("test_"))
        lines += ["", f"Main job (`python benchmarks/main_job.py`, {job['date']}, {job['machine']['cpus']} CPUs): "
                      f"`{job['command']}` took **{job['wall_s']:.0f} s** wall, verified {job['trials']} configs "
                      f"({job['rung_results']} rung results), and its winner scored **{job[metric]:.3f}** "
                      f"{metric.replace('_', ' ')}; `hpo-agent --help` answered in {job['help_wall_s_median']:.2f} s "
                      "(median of 5)."]
    return "\n".join(lines)


BLOCKS = {"default-model": default_model_block}


def main() -> int:
    readme = ROOT / "README.md"
    text = readme.read_text()
    for name, make in BLOCKS.items():
        pattern = re.compile(rf"(<!-- figures:{name} -->\n).*?(<!-- /figures:{name} -->)", re.S)
        text = pattern.sub(lambda m: m.group(1) + make() + "\n" + m.group(2), text)
    readme.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
