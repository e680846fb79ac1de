"""Where trial jobs run: in this process, or in a long-lived child process that may die.

A Jetson shares memory between CPU and GPU, and there an out-of-memory is usually the kernel
killing the process (exit -9), not an exception. Running trials in a child turns that into one
trial's ``oom`` outcome: the parent records it, starts a fresh child, and the search goes on.
The child imports torch and loads the task once, then serves jobs over a pipe, so isolation
costs one start-up per run (plus one per crash), not one per trial. With a memory limit the
child caps its own address space (``RLIMIT_AS``) so that allocating past it fails inside it;
after such a failure the child is replaced, because freed memory stays mapped and would count.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from typing import Any, Dict, Optional

from .records import Outcome

READY_TIMEOUT_S = 300.0
MIN_EXTRA_BYTES = 128 * 2 ** 20  # address space granted above the child's size, at the least


def execute_job(task, spec: Dict[str, Any]) -> Dict[str, Any]:
    """Train ``spec['config']`` for ``spec['seconds']`` more training seconds (resuming from the
    checkpoint for rungs > 0), evaluate on validation, save the checkpoint. Raises on failure.

    Two other kinds of job: ``probe`` (one step, nothing kept: :mod:`.probe`) and ``evaluate``
    (load ``spec['checkpoint']`` and score it on the split ``spec['evaluate']``: the test phase,
    which so runs where the trials ran, warm and under the same memory cap)."""
    from .training import TrialRun

    device = str(spec.get("device", "cpu"))
    cuda = device.startswith("cuda")
    if cuda:
        import torch

        torch.cuda.reset_peak_memory_stats()
    run = TrialRun(task, spec["config"], seed=spec["seed"], device=device)
    if spec.get("evaluate"):
        run.load(spec["checkpoint"])
        return {"metrics": run.evaluate(spec["evaluate"]), "steps": run.steps}
    if spec.get("probe"):  # a memory probe: one step, nothing kept (see agent/probe.py)
        run.train(steps=1)
        out = {"probe": True, "steps": run.steps}
        if cuda:
            out["cuda_max_allocated_bytes"] = int(torch.cuda.max_memory_allocated())
        return out
    if spec["rung"] > 0:
        run.load(spec["checkpoint"])
    before = run.train_seconds
    run.train(seconds=before + spec["seconds"], deadline=spec.get("deadline"))
    metrics = run.evaluate("validation")
    run.save(spec["checkpoint"])
    out = {"metrics": metrics, "steps": run.steps, "train_seconds": run.train_seconds,
           "train_increment_s": run.train_seconds - before}
    if cuda:
        out["cuda_max_allocated_bytes"] = int(torch.cuda.max_memory_allocated())
    return out


def _failure(exc: BaseException) -> Dict[str, Any]:
    from .. import devices

    outcome = Outcome.OOM if devices.is_oom(exc) else Outcome.FAILED
    return {"outcome": outcome.value, "error": f"{type(exc).__name__}: {exc}"[:500]}


class InProcessRunner:
    """Runs jobs in this process (fastest; an OS kill would end the whole run)."""

    def __init__(self, task):
        self.task = task
        self.pid = os.getpid()
        self._frozen = False

    @property
    def warm(self) -> bool:
        """Whether a job would run without a start-up first (always, in this process)."""
        return True

    def run(self, spec: Dict[str, Any], timeout_s: Optional[float] = None) -> Dict[str, Any]:
        import gc

        if not self._frozen:
            # What is alive before the first trial (torch, the task's data, the meta-model) lives as
            # long as the run. Frozen, it drops out of the collection after each trial, which then
            # scans only what trials made: a full collection cost 0.2-0.5 s a trial in a tune process.
            gc.collect()
            gc.freeze()
            self._frozen = True
        try:
            return dict(execute_job(self.task, spec), outcome=Outcome.COMPLETE.value)
        except Exception as exc:  # one bad config must not end the search
            return _failure(exc)
        finally:
            gc.collect()
            if str(spec.get("device", "cpu")).startswith("cuda"):
                import torch

                torch.cuda.empty_cache()

    def close(self) -> None:
        if self._frozen:  # hand the run's long-lived objects back to the collector
            import gc

            gc.unfreeze()
            self._frozen = False


def _warm_up() -> None:
    import torch

    x = torch.ones(64, 64, requires_grad=True)
    (x @ x).sum().backward()


def _child_main(conn, task_name: str, task_options: Dict[str, Any], seed: int,
                memory_limit_bytes: Optional[int]) -> None:
    from .. import devices
    from .tasks import get_task

    try:
        task = get_task(task_name, seed=seed, **task_options).ensure_loaded()
        if memory_limit_bytes:
            import psutil

            _warm_up()  # map torch's threads and arenas before the cap: RLIMIT_AS counts them
            rss = psutil.Process().memory_info().rss
            devices.apply_memory_limit_relative(max(MIN_EXTRA_BYTES, int(memory_limit_bytes) - rss))
    except Exception as exc:
        conn.send(("error", _failure(exc)))
        return
    conn.send(("ready", os.getpid()))
    runner = InProcessRunner(task)
    while True:
        spec = conn.recv()
        if spec is None:
            return
        conn.send(("result", runner.run(spec)))


class ChildProcessRunner:
    """Runs jobs in a child process; a child that dies or hangs costs one trial, not the run."""

    def __init__(self, task_name: str, task_options: Dict[str, Any], seed: int,
                 memory_limit_bytes: Optional[int] = None):
        self.args = (task_name, dict(task_options), seed, memory_limit_bytes)
        self.process = None
        self.conn = None
        self.restarts = 0

    @property
    def pid(self) -> Optional[int]:
        return self.process.pid if self.process is not None else None

    @property
    def warm(self) -> bool:
        """Whether a child is alive to take the next job (else :meth:`run` starts one first)."""
        return self.process is not None and self.process.is_alive()

    def start(self) -> None:
        ctx = mp.get_context("spawn")  # never fork a process that holds torch threads
        parent, child = ctx.Pipe()
        self.process = ctx.Process(target=_child_main, args=(child,) + self.args, daemon=True)
        self.process.start()
        child.close()
        self.conn = parent
        if not self.conn.poll(READY_TIMEOUT_S):
            self._kill()
            raise RuntimeError("the trial worker process did not start")
        kind, payload = self.conn.recv()
        if kind != "ready":
            self._kill()
            raise RuntimeError(f"the trial worker could not load the task: {payload.get('error')}")

    def run(self, spec: Dict[str, Any], timeout_s: Optional[float] = None) -> Dict[str, Any]:
        from .. import devices

        if self.process is None or not self.process.is_alive():
            self.start()
        try:
            self.conn.send(spec)
            end = None if timeout_s is None else time.monotonic() + timeout_s
            while not self.conn.poll(0.1):
                if not self.process.is_alive():
                    break
                if end is not None and time.monotonic() > end:
                    self._kill()
                    return {"outcome": Outcome.FAILED.value, "error": f"trial exceeded its {timeout_s:.0f}s deadline"}
            else:
                result = self.conn.recv()[1]
                if result.get("outcome") == Outcome.OOM.value:
                    self._retire()
                return result
        except (EOFError, BrokenPipeError, ConnectionResetError):
            pass
        self.process.join(5)
        code = self.process.exitcode
        self._reset()
        if code is not None and devices.exit_code_is_oom(code):
            return {"outcome": Outcome.OOM.value, "error": f"trial process killed (exit {code}), "
                                                            "most likely by the kernel's out-of-memory killer"}
        return {"outcome": Outcome.FAILED.value, "error": f"trial process died (exit {code})"}

    def _retire(self) -> None:
        """End a child after an out-of-memory: its allocator keeps the failed trial's arenas mapped,
        and under ``RLIMIT_AS`` they count, so the next trial could fail in it for that alone (the
        CI saw oneDNN fail to JIT a tiny config). A fresh child costs one start-up per OOM."""
        self.close()
        self._reset()

    def _reset(self) -> None:
        self.process, self.conn = None, None
        self.restarts += 1

    def _kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.join(5)
        self._reset()

    def close(self) -> None:
        if self.process is not None and self.process.is_alive():
            try:
                self.conn.send(None)
                self.process.join(5)
            except (BrokenPipeError, OSError):
                pass
            if self.process.is_alive():
                self.process.kill()
        self.process = None
