"""When opening a SQLite store takes the schema lock: unless its Optuna schema is complete.

A store's file exists as soon as its first table does, while its creator may still be stamping
the schema version; a second worker that skipped the lock then stamped it again and died on
``UNIQUE constraint failed: alembic_version`` (seen once in test_collect_workers' race).
"""

import contextlib
import sqlite3

import pytest

pytest.importorskip("optuna")

from hpo_agent.trainer import storage  # noqa: E402


def half_written(path):
    """A store as its creator leaves it just before the stamp: tables and version row, no stamp."""
    storage.open_storage(str(path)).engine.dispose()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("DROP TABLE alembic_version")
        conn.commit()
    return path


def test_schema_complete_only_once_stamped(tmp_path):
    missing, empty, junk = tmp_path / "missing.db", tmp_path / "empty.db", tmp_path / "junk.db"
    empty.write_bytes(b"")
    junk.write_bytes(b"not a database at all")
    assert not storage.schema_complete(str(missing))
    assert not missing.exists()  # reading never creates the file
    assert not storage.schema_complete(str(empty))
    assert not storage.schema_complete(str(junk))
    assert not storage.schema_complete(str(half_written(tmp_path / "half.db")))
    storage.open_storage(str(tmp_path / "whole.db"))
    assert storage.schema_complete(str(tmp_path / "whole.db"))


def test_opening_a_half_written_store_waits_for_the_schema_lock(tmp_path, monkeypatch):
    taken = []
    real_lock = storage.study_lock

    def recording_lock(path_or_url, name, *args, **kwargs):
        taken.append(name)
        return real_lock(path_or_url, name, *args, **kwargs)

    db = half_written(tmp_path / "h.db")
    monkeypatch.setattr(storage, "study_lock", recording_lock)
    storage.open_storage(str(db))  # finishes the schema, under the lock
    assert taken == ["__schema__"]
    assert storage.schema_complete(str(db))
    storage.open_storage(str(db))  # complete now: no lock, so reading leaves no lock file behind
    assert taken == ["__schema__"]


def test_a_new_store_is_created_under_the_lock(tmp_path, monkeypatch):
    taken = []
    monkeypatch.setattr(storage, "study_lock", lambda p, name, *a, **k: (taken.append(name), contextlib.nullcontext(True))[1])
    storage.open_storage(str(tmp_path / "new.db"))
    assert taken == ["__schema__"]
