"""nameko-sqlalchemy's Database, plus what every service here needs of it.

- the schema is made by migrations (infra/migrations, `make migrate`), not
  here: a database that is not at this code's head revision is refused at
  start with a message naming the command, not at the first query;
- SQLite gets WAL and a busy timeout, so that the accounts and jobs
  services (and several processes) can share one file.
"""
import os

from nameko_sqlalchemy import Database
from sqlalchemy import event
from sqlalchemy.engine import make_url

from infra import migrations
from infra.metrics import DB_COMMITS

SQLITE_BUSY_TIMEOUT_S = 30


class ModelDatabase(Database):
    def setup(self):
        uri = self.container.config["DB_URIS"][
            f"{self.container.service_name}:{self.declarative_base.__name__}"]
        url = make_url(uri)
        if url.get_backend_name() == "sqlite":
            if url.database and url.database != ":memory:":
                _private_sqlite_file(url.database)
            self.engine_options.setdefault("connect_args", {"timeout": SQLITE_BUSY_TIMEOUT_S})
        else:
            # A database restart leaves dead connections in the pool: test each on checkout.
            self.engine_options.setdefault("pool_pre_ping", True)
        super().setup()
        if url.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        # counted: what a task costs the database (bench/batches.py reads it)
        commits = DB_COMMITS.labels(self.container.service_name)
        event.listen(self.engine, "commit", lambda _conn: commits.inc())
        migrations.check(self.engine, self.container.service_name)


def _private_sqlite_file(path):
    """The database file (password hashes, sessions) 0600, in a folder made 0700;
    SQLite gives its -wal and -shm files the database file's mode."""
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    os.chmod(path, 0o600)  # created earlier by a migration with the umask's mode


def _sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
