"""Many collect workers on one history store: no config lost, none run twice.

SQLite always; PostgreSQL through ``HPO_AGENT_TEST_POSTGRES_URL`` (``.ci/run`` sets it), or a
throw-away server started here when PostgreSQL's ``initdb`` is installed.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from hpo_agent.agent.space import SearchSpace, config_key  # noqa: E402
from hpo_agent.trainer import collect as collect_lib  # noqa: E402
from hpo_agent.trainer.storage import open_storage, storage_url, study_lock  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
HPO_AGENT = Path(sys.executable).parent / "hpo-agent"
SPACE = SearchSpace.from_dict([{"name": "lr", "type": "float", "low": 1e-4, "high": 1e-1, "log": True},
                               {"name": "width", "type": "int", "low": 8, "high": 64}])
TS = optuna.trial.TrialState


def assert_each_config_ran_once(storage, design_size):
    """The invariants: finished == design, no key twice, nothing WAITING/RUNNING left."""
    store = open_storage(storage)
    summaries = optuna.get_all_study_summaries(store, include_best_trial=False)
    assert summaries, "no study was written"
    for summary in summaries:
        trials = optuna.load_study(study_name=summary.study_name, storage=store).get_trials(deepcopy=False)
        left = [t.number for t in trials if t.state in (TS.WAITING, TS.RUNNING)]
        assert not left, f"{summary.study_name}: trials left WAITING/RUNNING: {left}"
        ran = [t for t in trials if "outcome" in t.user_attrs]
        keys = Counter(t.user_attrs["config_key"] for t in ran)
        twice = {k: n for k, n in keys.items() if n > 1}
        assert not twice, f"{summary.study_name}: configs run more than once: {twice}"
        assert len(ran) == design_size, f"{summary.study_name}: {len(ran)} trials ran, design has {design_size}"
        for t in trials:  # everything else was discarded before running
            assert t in ran or (t.state == TS.FAIL and "outcome" not in t.user_attrs)
    return store


# ---------------------------------------------------------------------------------------------
# The rule, in one process: a queue holding every config twice still runs each config once.

def test_duplicated_queue_runs_each_config_once(tmp_path):
    db = str(tmp_path / "h.db")
    study = optuna.create_study(storage=open_storage(db), study_name="t|mlp|cpu", direction="maximize")
    configs = collect_lib.design_configs(SPACE, "random", 6, seed=0)
    for copy in range(2):  # what two workers enqueueing at the same moment leave behind
        for config in configs:
            study.enqueue_trial(config, user_attrs={"config_key": config_key(config, SPACE.names), "design": "random"})
    ran = []
    while (trial := collect_lib.next_trial(study)) is not None:
        config = collect_lib.suggest(trial, SPACE)
        trial.set_user_attr("outcome", "complete")
        study.tell(trial, float(config["width"]))
        ran.append(trial.number)
    assert ran == list(range(6))  # the older copy of each config ran, in queue order
    duplicates = [t for t in study.get_trials() if "duplicate_of" in t.user_attrs]
    assert [t.user_attrs["duplicate_of"] for t in duplicates] == list(range(6))
    assert_each_config_ran_once(db, 6)
    # a rerun of the design enqueues nothing (discarded copies do not hide the ones that ran)
    assert collect_lib.enqueue_design(study, configs, SPACE, "random") == 0


def test_a_larger_design_tops_the_study_up_to_n_configs(tmp_path):
    study = optuna.create_study(storage=open_storage(str(tmp_path / "h.db")), study_name="t|mlp|cpu",
                                direction="maximize")
    first = collect_lib.design_configs(SPACE, "random", 4, seed=0)
    assert collect_lib.enqueue_design(study, first, SPACE, "random") == 4
    larger = collect_lib.design_configs(SPACE, "random", 6, seed=0)
    assert not {config_key(c, SPACE.names) for c in first} >= {config_key(c, SPACE.names) for c in larger[:4]}
    assert collect_lib.enqueue_design(study, larger, SPACE, "random") == 2  # 6 in all, not 4 + 6
    assert collect_lib.enqueue_design(study, larger, SPACE, "random") == 0
    # another design is counted on its own
    assert collect_lib.enqueue_design(study, collect_lib.design_configs(SPACE, "sobol", 3, seed=0), SPACE, "sobol") == 3


def test_abandoned_trial_is_requeued_and_its_old_copy_does_not_block_it(tmp_path):
    db = str(tmp_path / "h.db")
    study = optuna.create_study(storage=open_storage(db), study_name="t|mlp|cpu", direction="maximize")
    configs = collect_lib.design_configs(SPACE, "random", 2, seed=0)
    collect_lib.enqueue_design(study, configs, SPACE, "random")
    trial = collect_lib.next_trial(study)  # a worker takes it, then dies (a pid that no longer exists)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    trial.set_user_attr("worker", {"host": socket.gethostname(), "pid": int(dead)})
    assert collect_lib.enqueue_design(study, configs, SPACE, "random") == 1
    while (trial := collect_lib.next_trial(study)) is not None:
        trial.set_user_attr("outcome", "complete")
        study.tell(trial, 1.0)
    assert_each_config_ran_once(db, 2)


def test_study_lock_excludes_other_processes(tmp_path):
    db = str(tmp_path / "h.db")
    code = ("import sys, time; from hpo_agent.trainer.storage import study_lock\n"
            "with study_lock(sys.argv[1], 's', timeout_s=float(sys.argv[2])) as held: print(held, flush=True)")
    with study_lock(db, "s") as held:
        assert held
        other = subprocess.run([sys.executable, "-c", code, db, "0.3"], capture_output=True, text=True, timeout=60)
        assert other.stdout.strip() == "False"  # not granted while we hold it
    other = subprocess.run([sys.executable, "-c", code, db, "5"], capture_output=True, text=True, timeout=60)
    assert other.stdout.strip() == "True"


# ---------------------------------------------------------------------------------------------
# The race, for real: several processes start at the same instant on one store (no torch: fast).

RACE_WORKER = textwrap.dedent("""
    import sys, time
    storage, start, use_lock = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "1"
    import contextlib
    from hpo_agent.agent.space import SearchSpace
    from hpo_agent.trainer import collect
    if not use_lock:  # prove that the ask-time rule alone suffices
        collect.study_lock = lambda *a, **k: contextlib.nullcontext(False)
    space = SearchSpace.from_dict(%r)
    configs = collect.design_configs(space, "random", %d, seed=0)
    store = collect.open_storage(storage)  # connect and create the study first, so that all
    collect.optuna.create_study(storage=store, study_name="race|mlp|cpu", direction="maximize",
                                load_if_exists=True)  # workers reach the design at the same instant
    while time.time() < start:
        time.sleep(0.001)
    study, added = collect.prepare_study(storage, "race|mlp|cpu", "maximize", {"metric": "accuracy"},
                                         configs, space, "random", storage=store)
    ran = 0
    while (trial := collect.next_trial(study)) is not None:
        config = collect.suggest(trial, space)
        time.sleep(0.01)
        trial.set_user_attr("outcome", "complete")
        study.tell(trial, float(config["width"]))
        ran += 1
    print("added", added, "ran", ran, flush=True)
""")


def run_race(storage, tmp_path, use_lock, n_workers=3, n_configs=12):
    script = tmp_path / "race_worker.py"
    script.write_text(RACE_WORKER % (SPACE.to_dict(), n_configs))
    start = time.time() + 4.0  # after every worker has imported optuna
    procs = [subprocess.Popen([sys.executable, str(script), storage, str(start), "1" if use_lock else "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(n_workers)]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    store = assert_each_config_ran_once(storage, n_configs)
    added = sum(int(out.split()[1]) for out, _ in outs)
    ran = sum(int(out.split()[3]) for out, _ in outs)
    assert ran == n_configs
    return store, added


@pytest.mark.parametrize("use_lock", [True, False], ids=["locked", "lock-free"])
def test_workers_racing_on_sqlite(tmp_path, use_lock):
    _, added = run_race(str(tmp_path / "race.db"), tmp_path, use_lock)
    if use_lock:
        assert added == 12  # the lock kept duplicates out of the queue altogether


# ---------------------------------------------------------------------------------------------
# Real `hpo-agent collect` workers (torch, the embedded iris task: well under a second a trial).

def run_collect_workers(storage, n_workers=3, n_configs=8):
    args = [str(HPO_AGENT), "collect", "--task", "iris", "--storage", storage, "--n-configs", str(n_configs),
            "--fidelities", "5,10", "--design", "sobol"]
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(n_workers)]
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    assert sum(int(out.split()[1]) for out, _ in outs) == n_configs, outs  # "ran N trial(s): ..."
    assert_each_config_ran_once(storage, n_configs)
    # resumable: a rerun finds nothing missing (in this process: no second start-up to pay for)
    from click.testing import CliRunner

    from hpo_agent.agent.cli import cli

    rerun = CliRunner().invoke(cli, args[1:])
    assert rerun.exit_code == 0 and "ran 0 trial(s)" in rerun.output, rerun.output
    assert_each_config_ran_once(storage, n_configs)


@pytest.mark.integration
def test_three_collect_workers_on_sqlite(tmp_path):
    pytest.importorskip("torch")
    run_collect_workers(str(tmp_path / "h.db"))


# ---------------------------------------------------------------------------------------------
# PostgreSQL

def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_postgres():
    """A throw-away local server: (url, stop) or (None, why not)."""
    initdb = shutil.which("initdb") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[::-1]), None)
    if not initdb:
        return None, "PostgreSQL's initdb is not installed"
    bindir = Path(initdb).resolve().parent
    as_root = os.geteuid() == 0
    try:
        user = pwd.getpwnam("postgres") if as_root else None
    except KeyError:
        return None, "running as root and there is no 'postgres' user to run the server as"
    run_as = ["runuser", "-u", "postgres", "--"] if as_root else []
    base = tempfile.mkdtemp(prefix="hpo-agent-pg-")
    if as_root:
        os.chown(base, user.pw_uid, user.pw_gid)
    port = _free_port()
    data = os.path.join(base, "data")
    try:
        subprocess.run(run_as + [initdb, "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "-N"],
                       check=True, capture_output=True, timeout=120)
        subprocess.run(run_as + [str(bindir / "pg_ctl"), "-D", data, "-l", os.path.join(base, "log"), "-w", "-t", "60",
                                 "-o", f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -F", "start"],
                       check=True, capture_output=True, timeout=120)
    except (subprocess.SubprocessError, OSError) as exc:
        shutil.rmtree(base, ignore_errors=True)
        detail = getattr(exc, "stderr", b"") or b""
        return None, f"could not start a local PostgreSQL server ({exc}; {detail.decode(errors='replace')[-300:]})"

    def stop():
        subprocess.run(run_as + [str(bindir / "pg_ctl"), "-D", data, "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)

    return f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres", stop


@pytest.fixture(scope="module")
def postgres_server():
    pytest.importorskip("psycopg2")
    url = os.environ.get("HPO_AGENT_TEST_POSTGRES_URL")
    stop = None
    if not url:
        url, stop = _start_postgres()
        if url is None:
            pytest.skip(f"HPO_AGENT_TEST_POSTGRES_URL is unset and {stop}")
    yield url
    if stop is not None:
        stop()


@pytest.fixture
def postgres_db(postgres_server):
    """A fresh database on the server for one test, dropped afterwards."""
    import sqlalchemy as sa

    name = f"hpo_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    yield str(sa.engine.make_url(postgres_server).set(database=name).render_as_string(hide_password=False))
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def test_study_lock_on_postgres(postgres_db):
    code = ("import sys; from hpo_agent.trainer.storage import study_lock\n"
            "with study_lock(sys.argv[1], 's', timeout_s=float(sys.argv[2])) as held: print(held, flush=True)")
    with study_lock(postgres_db, "s") as held:
        assert held
        other = subprocess.run([sys.executable, "-c", code, postgres_db, "0.5"], capture_output=True, text=True,
                               timeout=60)
        assert other.stdout.strip() == "False", other.stderr[-2000:]
    other = subprocess.run([sys.executable, "-c", code, postgres_db, "5"], capture_output=True, text=True, timeout=60)
    assert other.stdout.strip() == "True", other.stderr[-2000:]


@pytest.mark.parametrize("use_lock", [True, False], ids=["locked", "lock-free"])
def test_workers_racing_on_postgres(postgres_db, tmp_path, use_lock):
    _, added = run_race(postgres_db, tmp_path, use_lock)
    if use_lock:
        assert added == 12


@pytest.mark.integration
def test_three_collect_workers_on_postgres(postgres_db):
    pytest.importorskip("torch")
    assert storage_url(postgres_db).startswith("postgresql")
    run_collect_workers(postgres_db)
