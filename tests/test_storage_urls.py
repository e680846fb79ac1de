"""History-store URLs: which driver a PostgreSQL URL gets, and one-line failures (trainer/storage.py)."""

import pytest

pytest.importorskip("optuna")

from hpo_agent.agent.errors import StorageError  # noqa: E402
from hpo_agent.trainer import storage  # noqa: E402


def test_a_path_is_sqlite_and_a_url_passes_through():
    assert storage.storage_url("h.db") == "sqlite:///h.db"
    assert storage.storage_url("postgresql+psycopg2://u@h/db") == "postgresql+psycopg2://u@h/db"


def test_a_driverless_postgres_url_gets_psycopg2_only_when_psycopg_3_is_missing(monkeypatch):
    installed = {"psycopg2"}
    monkeypatch.setattr(storage, "_importable", lambda name: name in installed)
    assert storage.storage_url("postgresql://u@h/db") == "postgresql+psycopg2://u@h/db"
    installed.add("psycopg")  # SQLAlchemy 2.1's own default is there: leave the URL alone
    assert storage.storage_url("postgresql://u@h/db") == "postgresql://u@h/db"


def test_missing_driver_unknown_database_and_refused_server_are_one_line_errors():
    with pytest.raises(StorageError, match="needs the database driver 'MySQLdb'.*hpo-agent\\[postgres\\]"):
        storage.open_storage("mysql://u:secret@127.0.0.1:1/db")
    with pytest.raises(StorageError, match="names a database SQLAlchemy does not know"):
        storage.open_storage("nosuch://x")
    pytest.importorskip("psycopg2")
    with pytest.raises(StorageError, match=r"cannot open the store postgresql\+psycopg2://u:\*\*\*@127.0.0.1:1/db") as info:
        storage.open_storage("postgresql+psycopg2://u:secret@127.0.0.1:1/db")
    assert "secret" not in str(info.value) and "\n" not in str(info.value)
