"""The history store: Optuna's storage API (SQLite file by default, any SQLAlchemy URL).

One study per (task, model family, device class). Each trial carries the config as params,
the validation metric at each fidelity as intermediate values (step = training steps), and
user attributes: meta-features, task description, cost, peak memory, device, outcome, versions.
Optuna's dashboard, samplers and distributed workers therefore work on it with no glue.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from typing import Any, Dict, Iterator, Optional

import optuna
from sqlalchemy.exc import NoSuchModuleError, OperationalError

from ..agent.errors import StorageError
from ..agent.space import Param, SearchSpace

STUDY_SEP = "|"


def storage_url(path_or_url: str) -> str:
    """Accept a plain file path (→ SQLite) or any SQLAlchemy URL. A ``postgresql://`` URL that
    names no driver gets psycopg2 (``pip install 'hpo-agent[postgres]'``) when SQLAlchemy's
    default for it, psycopg 3, is not installed: SQLAlchemy 2.1 changed that default."""
    if "://" not in path_or_url:
        return f"sqlite:///{path_or_url}"
    if path_or_url.startswith("postgresql://") and not _importable("psycopg") and _importable("psycopg2"):
        return "postgresql+psycopg2://" + path_or_url[len("postgresql://"):]
    return path_or_url


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def open_storage(path_or_url: str) -> optuna.storages.BaseStorage:
    """An RDB storage (SQLite file or any SQLAlchemy URL)."""
    url = storage_url(path_or_url)
    kwargs: Dict[str, Any] = {}
    if url.startswith("sqlite"):
        # Several worker processes on one SQLite file: wait for the lock instead of failing.
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
    # Workers starting at once on a new store would race to create its tables and to stamp its
    # schema version; the schema lock serialises them. Skipped only where the schema is known
    # complete (then Optuna writes nothing on open), so that reading a store needs no lock file.
    path = sqlite_path(url)
    lock = not url.startswith("sqlite") or (path is not None and not schema_complete(path))
    try:
        with (study_lock(path_or_url, "__schema__") if lock else contextlib.nullcontext(False)):
            storage = optuna.storages.RDBStorage(url, **kwargs)
    except (ImportError, NoSuchModuleError, OperationalError) as exc:
        raise StorageError(_storage_failure(url, exc)) from exc
    if path is not None:
        _serialise_sqlite(storage.engine)
    return storage


def schema_complete(path: str) -> bool:
    """Whether the SQLite file at ``path`` holds a finished Optuna schema.

    Optuna stamps ``alembic_version`` last when it creates a store, so a stamped file needs no
    more writes on open. A file's mere existence says nothing: it is written as soon as the first
    table is, while its creator may still be stamping (a second opener that skipped the lock then
    stamped again and failed on ``UNIQUE constraint failed: alembic_version``). Read-only: it
    never creates the file.
    """
    import pathlib
    import sqlite3

    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return False
    try:
        conn = sqlite3.connect(pathlib.Path(path).resolve().as_uri() + "?mode=ro", uri=True, timeout=60)
    except sqlite3.Error:
        return False
    try:
        return conn.execute("SELECT version_num FROM alembic_version LIMIT 1").fetchone() is not None
    except sqlite3.Error:  # no such table yet, or not a database: let Optuna say which, under the lock
        return False
    finally:
        conn.close()


def _storage_failure(url: str, exc: BaseException) -> str:
    """One line on why the store at ``url`` did not open, and what to do (the password hidden)."""
    from sqlalchemy.engine import make_url

    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except Exception:  # a URL SQLAlchemy cannot even parse
        shown = url
    if isinstance(exc, ImportError):
        return (f"the store {shown} needs the database driver '{getattr(exc, 'name', None) or exc}', which is not "
                "installed; for PostgreSQL: pip install 'hpo-agent[postgres]' (psycopg2), or give a SQLite file path")
    if isinstance(exc, NoSuchModuleError):
        return (f"the store {shown} names a database SQLAlchemy does not know; give a SQLite file path or a URL "
                "such as postgresql://user@host/db")
    return f"cannot open the store {shown}: {' '.join(str(getattr(exc, 'orig', exc)).split())}"


def _serialise_sqlite(engine) -> None:
    """Make every SQLite transaction take the write lock up front (``BEGIN IMMEDIATE``).

    Python's sqlite3 driver runs SELECTs outside any transaction and only opens one before a
    write, so Optuna's pop of a queued trial (read WAITING, then write RUNNING) is not atomic
    on SQLite: two processes both read WAITING and both run the trial (seen here with three
    workers). With ``BEGIN IMMEDIATE`` the read and the write happen under one lock, and other
    processes wait for it (the 60 s busy timeout). This is SQLAlchemy's documented recipe for
    pysqlite transactions; the engine is disposed so that every pooled connection gets it.
    """
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_connection, _record):
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()


def sqlite_path(url: str) -> Optional[str]:
    """The file behind a ``sqlite:///`` URL (None for in-memory databases and other backends)."""
    if not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///"):].split("?", 1)[0]
    return None if path in ("", ":memory:") else path


def _lock_key(name: str) -> int:
    """A signed 64-bit key for database advisory locks, stable across processes and hosts."""
    return int.from_bytes(hashlib.sha256(f"hpo-agent:{name}".encode()).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def study_lock(path_or_url: str, name: str, timeout_s: float = 120.0) -> Iterator[bool]:
    """Best-effort lock, across processes, around the set-up of one study (attributes, design).

    SQLite: ``flock`` on ``<file>.lock`` beside the database (SQLite is one host by nature).
    PostgreSQL: a session advisory lock (``pg_advisory_lock``); MySQL: ``GET_LOCK``. Both are
    released by the server when the holder's connection dies, so a killed worker never leaves
    the lock held. Anything else, or a lock not granted within ``timeout_s``: no lock. Yields
    whether the lock is held. Correctness must never depend on it (collect de-duplicates at ask
    time regardless); it only keeps several workers from enqueueing the same design twice.
    """
    url = storage_url(path_or_url)
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        with (_file_lock(path + ".lock", timeout_s) if path else contextlib.nullcontext(False)) as held:
            yield held
    elif url.startswith(("postgresql", "mysql", "mariadb")):
        with _db_lock(url, name, timeout_s) as held:
            yield held
    else:
        yield False


@contextlib.contextmanager
def _file_lock(path: str, timeout_s: float) -> Iterator[bool]:
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield False
        return
    try:
        handle = open(path, "a+")
    except OSError:  # a read-only directory: go on without the lock
        yield False
        return
    with handle:
        deadline = time.monotonic() + timeout_s
        held = False
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = True
                break
            except OSError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.02)
        try:
            yield held
        finally:
            if held:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def _db_lock(url: str, name: str, timeout_s: float) -> Iterator[bool]:
    import sqlalchemy as sa

    postgres = url.startswith("postgresql")
    key, label = _lock_key(name), f"hpo-agent:{hashlib.sha256(name.encode()).hexdigest()[:40]}"
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    conn = None
    held = False
    try:
        conn = engine.connect()
        if postgres:
            conn.execute(sa.text(f"SET lock_timeout = '{int(timeout_s * 1000)}ms'"))
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
            held = True
        else:
            held = conn.execute(sa.text("SELECT GET_LOCK(:n, :t)"), {"n": label, "t": int(timeout_s)}).scalar() == 1
        conn.commit()  # session-level locks outlive the transaction; do not sit idle in one
    except Exception:  # no permission, timeout, unreachable: the lock is an optimisation only
        held = False
    try:
        yield held
    finally:
        if conn is not None:
            try:
                if held:
                    sql = "SELECT pg_advisory_unlock(:k)" if postgres else "SELECT RELEASE_LOCK(:n)"
                    conn.execute(sa.text(sql), {"k": key} if postgres else {"n": label})
                    conn.commit()
            finally:
                conn.close()
        engine.dispose()


def study_name(task: str, family: str, device_class: str) -> str:
    return STUDY_SEP.join((task, family, device_class))


def parse_study_name(name: str) -> Dict[str, str]:
    parts = name.split(STUDY_SEP)
    if len(parts) != 3:
        return {"task": name, "model_family": "", "device_class": ""}
    return dict(zip(("task", "model_family", "device_class"), parts))


def distribution(param: Param) -> optuna.distributions.BaseDistribution:
    """The Optuna distribution of a :class:`Param`."""
    if param.type == "categorical":
        return optuna.distributions.CategoricalDistribution(list(param.choices))
    if param.type == "int":
        return optuna.distributions.IntDistribution(int(param.low), int(param.high), log=param.log)
    return optuna.distributions.FloatDistribution(float(param.low), float(param.high), log=param.log)


def distributions(space: SearchSpace) -> Dict[str, optuna.distributions.BaseDistribution]:
    return {p.name: distribution(p) for p in space.params}


def suggest(trial: optuna.Trial, space: SearchSpace) -> Dict[str, Any]:
    """Ask the trial for every param (fixed values come back for enqueued trials)."""
    config = {}
    for p in space.params:
        if p.type == "categorical":
            config[p.name] = trial.suggest_categorical(p.name, list(p.choices))
        elif p.type == "int":
            config[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log)
        else:
            config[p.name] = trial.suggest_float(p.name, float(p.low), float(p.high), log=p.log)
    return config
