"""Agent overhead: how long the device's query path takes and how much memory it needs.

    python benchmarks/overhead.py [--model PATH] [--repeats 30]

In a fresh child process that imports only what querying needs (``hpo_agent.agent.metamodel``:
onnxruntime and numpy), it loads the meta-model and times, for 1, 1,000 and 10,000 random
candidate configs, ``MetaModel.predict`` (encoding + ONNX inference) and the whole query
(``propose`` → ``predict`` → ``rank``). It records the child's peak resident memory
(``ru_maxrss``), which heavy modules got imported (none should), and the model file's size.
Writes ``benchmarks/results/overhead.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, resource, statistics, sys, time
t0 = time.perf_counter()
import numpy as np
from hpo_agent.agent.metamodel import MetaModel
from hpo_agent.agent.candidates import propose, rank
model = MetaModel.load(None if sys.argv[1] == "-" else sys.argv[1])
cold_s = time.perf_counter() - t0
repeats = int(sys.argv[2])
rng = np.random.default_rng(0)
features = {name: 1.0 for name in model.meta_feature_names}
out = {"cold_start_s": cold_s, "sizes": {}}
for n in (1, 1000, 10000):
    configs = model.space.sample(rng, n)
    model.predict(features, configs)  # warm-up
    predict, query = [], []
    for _ in range(repeats):
        t = time.perf_counter(); model.predict(features, configs); predict.append(time.perf_counter() - t)
        t = time.perf_counter()
        cands = model.space.sample(np.random.default_rng(1), n)
        rank(cands, model.predict(features, cands))
        query.append(time.perf_counter() - t)
    out["sizes"][str(n)] = {"predict_ms_median": 1e3 * statistics.median(predict),
                            "predict_ms_max": 1e3 * max(predict),
                            "query_ms_median": 1e3 * statistics.median(query)}
out["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
out["heavy_modules_imported"] = sorted(m for m in ("torch", "sklearn", "transformers", "datasets", "pandas")
                                       if m in sys.modules)
out["learner"] = model.describe().get("learner")
print(json.dumps(out))
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="-", help="ONNX meta-model (default: the packaged one)")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--out", default=str(HERE / "results" / "overhead.json"))
    args = parser.parse_args(argv)

    proc = subprocess.run([sys.executable, "-c", CHILD, args.model, str(args.repeats)],
                          capture_output=True, text=True, check=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if args.model == "-":
        from hpo_agent.agent.metamodel import DEFAULT_MODEL
        model_path = DEFAULT_MODEL
    else:
        model_path = Path(args.model)
    result.update({
        "benchmark": "overhead", "model": model_path.name, "model_size_bytes": model_path.stat().st_size,
        "repeats": args.repeats,
        "targets": {"predict_10000_ms": 50, "peak_rss_mb": 120},
        "met": {"predict_10000_ms": result["sizes"]["10000"]["predict_ms_median"] < 50,
                "peak_rss_mb": result["peak_rss_bytes"] < 120 * 2 ** 20},
        "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPUs, python {platform.python_version()}",
    })
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
