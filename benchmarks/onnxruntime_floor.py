"""Does the shipped meta-model give the same answers on the oldest onnxruntime the package accepts?

    python benchmarks/onnxruntime_floor.py [--version 1.16] [--venv DIR]

A Jetson runs the onnxruntime its JetPack was built for, often older than a workstation's, and the
meta-model's graph holds ops that a runtime must support at the file's opset (the derived features
use Round, Mul, Div and Concat; the trees use the ai.onnx.ml TreeEnsembleRegressor). The script
makes a virtual environment with ``onnxruntime==VERSION.*`` (default: the floor in
``pyproject.toml``) and ``numpy<2``, runs the device's query path there and in this environment
(``MetaModel.predict`` and ``predict_cost`` on the default search space's grid plus 2,000 random
configs, for the digits task's meta-features), and compares the outputs.
Writes ``benchmarks/results/onnxruntime_floor.json``.

What it does not check: a Jetson's aarch64 build and its CUDA/TensorRT execution providers (the
device scores on the CPU provider, which is what runs here).
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import tempfile
import venv
from datetime import date
from pathlib import Path

from _common import ROOT, rel_path

CHILD = r"""
import json, sys
import numpy as np
import onnxruntime
from hpo_agent.agent import metafeatures
from hpo_agent.agent.metamodel import MetaModel
model = MetaModel.load(None if sys.argv[1] == "-" else sys.argv[1])
configs = list(model.space.grid()) + list(model.space.sample(np.random.default_rng(0), 2000))
task = metafeatures.TaskDescription(name="digits", modality="image", task_type="classification", n_train=1078,
                                    n_classes=10, class_counts=(108,) * 10, input_size=64,
                                    model_family="small_resnet", model_params=20000)
features = metafeatures.compute(task)
scores = model.predict(features, configs)
cost = model.predict_cost(features, configs)
np.savez(sys.argv[2], scores=scores, cost=np.zeros(0) if cost is None else cost)
print(json.dumps({"onnxruntime": onnxruntime.__version__, "numpy": np.__version__, "configs": len(configs),
                  "heavy_imports": sorted(m for m in ("torch", "sklearn", "scipy", "pandas") if m in sys.modules)}))
"""


def floor_version() -> str:
    """The lower bound on onnxruntime in pyproject.toml (``onnxruntime>=X``)."""
    text = (ROOT / "pyproject.toml").read_text()
    match = re.search(r'"onnxruntime>=([0-9.]+)"', text)
    if not match:
        raise SystemExit("pyproject.toml declares no onnxruntime>=X; pass --version")
    return match.group(1)


def run_child(python: str, model: str, out: Path, path_dir: Path) -> dict:
    """The query path under ``python``, importing this checkout as ``hpo_agent`` (nothing installed)."""
    env = {"PYTHONPATH": str(path_dir), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([python, "-c", CHILD, model, str(out)], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"the query path failed under {python}:\n{done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--version", default=None, help="onnxruntime release series (default: pyproject's floor)")
    parser.add_argument("--venv", default=None, help="reuse or create the old runtime's environment here")
    parser.add_argument("--model", default="-", help="ONNX meta-model (default: the shipped one)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "onnxruntime_floor.json"))
    args = parser.parse_args(argv)
    import numpy as np

    version = args.version or floor_version()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env_dir = Path(args.venv) if args.venv else tmp / "venv"
        old_python = env_dir / "bin" / "python"
        if not old_python.exists():
            venv.create(env_dir, with_pip=True)
        subprocess.run([str(old_python), "-m", "pip", "install", "-q", f"onnxruntime=={version}.*", "numpy<2"],
                       check=True)
        (tmp / "path").mkdir()
        (tmp / "path" / "hpo_agent").symlink_to(ROOT)  # the checkout is the package (see pyproject)
        runs = {"floor": run_child(str(old_python), args.model, tmp / "floor.npz", tmp / "path"),
                "here": run_child(sys.executable, args.model, tmp / "here.npz", tmp / "path")}
        floor, here = np.load(tmp / "floor.npz"), np.load(tmp / "here.npz")
        diffs = {k: float(np.abs(floor[k] - here[k]).max()) if floor[k].size else None for k in ("scores", "cost")}
    import onnx

    model_path = ROOT / "agent" / "data" / "default_metamodel.onnx" if args.model == "-" else Path(args.model)
    proto = onnx.load(str(model_path))
    result = {"benchmark": "onnxruntime_floor", "date": date.today().isoformat(), "requested": f"{version}.*",
              "model": rel_path(str(model_path)),
              "opsets": {op.domain or "ai.onnx": op.version for op in proto.opset_import},
              "ops": sorted({node.op_type for node in proto.graph.node}),
              "runs": runs, "max_abs_diff": diffs,
              "same_answers": all(d <= 1e-6 for d in diffs.values() if d is not None),
              "machine": {"python": platform.python_version(), "platform": platform.platform(),
                          "machine": platform.machine()}}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("requested", "runs", "max_abs_diff", "same_answers")}, indent=1))
    return 0 if result["same_answers"] else 1


if __name__ == "__main__":
    sys.exit(main())
