"""infra/nameko/database.py: a database from an older version is refused clearly."""
import sqlite3

import pytest
from sqlalchemy import create_engine

from infra.nameko.database import _check_columns
from services.jobs.models import Base


def test_a_table_missing_columns_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:  # a tasks table from before `published`
        old.execute("CREATE TABLE tasks (id INTEGER PRIMARY KEY, job_id TEXT)")
    engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)  # adds the missing jobs table, leaves tasks alone
    with pytest.raises(RuntimeError, match="table 'tasks' lacks .*published"):
        _check_columns(engine, Base.metadata)


def test_a_current_database_passes(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path}/new.db")
    Base.metadata.create_all(engine)
    _check_columns(engine, Base.metadata)
