"""nameko-sqlalchemy's Database, plus what every service here needs of it.

- the tables are created when the service starts; there are no migrations
  yet, so a database made by an older version whose tables lack a column is
  refused at start with a clear message, not at the first query;
- SQLite gets WAL and a busy timeout, so that the accounts and jobs
  services (and several processes) can share one file.
"""
import os

from nameko_sqlalchemy import Database
from sqlalchemy import event, inspect
from sqlalchemy.engine import make_url

SQLITE_BUSY_TIMEOUT_S = 30


class ModelDatabase(Database):
    def setup(self):
        uri = self.container.config["DB_URIS"][
            f"{self.container.service_name}:{self.declarative_base.__name__}"]
        url = make_url(uri)
        if url.get_backend_name() == "sqlite":
            if url.database and url.database != ":memory:":
                os.makedirs(os.path.dirname(os.path.abspath(url.database)), exist_ok=True)
            self.engine_options.setdefault("connect_args", {"timeout": SQLITE_BUSY_TIMEOUT_S})
        else:
            # A database restart leaves dead connections in the pool: test each on checkout.
            self.engine_options.setdefault("pool_pre_ping", True)
        super().setup()
        if url.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.declarative_base.metadata.create_all(self.engine)
        _check_columns(self.engine, self.declarative_base.metadata)


def _check_columns(engine, metadata):
    inspector = inspect(engine)
    for table in metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        missing = sorted(set(table.columns.keys()) - present)
        if missing:
            raise RuntimeError(
                f"the database's table '{table.name}' lacks {', '.join(missing)}: it was made "
                "by an older Convertix, and there are no migrations yet. Start from an empty "
                "database (make run's is var/convertix.db).")


def _sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
