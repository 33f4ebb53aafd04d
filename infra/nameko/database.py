"""nameko-sqlalchemy's Database, plus what every service here needs of it.

- the schema is made by migrations (infra/migrations, `make migrate`), not
  here: a database that is not at this code's head revision is refused at
  start with a message naming the command, not at the first query;
- SQLite gets WAL and a busy timeout, so that the accounts and jobs
  services (and several processes) can share one file;
- PostgreSQL connections are tested on checkout (pool_pre_ping) and get a
  connect timeout and a dead-server timeout (config DATABASE): after a
  failover the pool drops the old primary's connections and a multi-host
  URL (`target_session_attrs=read-write`) finds the new one within seconds.
"""
import os

from nameko_sqlalchemy import Database
from sqlalchemy import event
from sqlalchemy.engine import make_url

from infra import migrations
from infra.config.schema import DATABASE, read
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
            # A database restart or failover leaves dead connections in the
            # pool: test each on checkout.
            self.engine_options.setdefault("pool_pre_ping", True)
            self.engine_options.setdefault("connect_args", postgres_connect_args(
                url.query, read(self.container.config, DATABASE)))
        super().setup()
        if url.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        # counted: what a task costs the database (bench/batches.py reads it)
        commits = DB_COMMITS.labels(self.container.service_name)
        event.listen(self.engine, "commit", lambda _conn: commits.inc())
        migrations.check(self.engine, self.container.service_name)


def postgres_connect_args(query, settings):
    """libpq parameters from config DATABASE, less those the URL's query sets.

    connect_timeout bounds each host of a multi-host URL (a node that is gone
    costs that long, then libpq tries the next). tcp_user_timeout with
    keepalives ends a connection whose server went silent (a lost node sends
    no reset) after about tcp_user_timeout_s, idle or waiting on a query,
    instead of TCP's quarter of an hour."""
    silent_s = settings["tcp_user_timeout_s"]
    wanted = {
        "connect_timeout": settings["connect_timeout_s"],
        "tcp_user_timeout": silent_s * 1000,   # milliseconds
        "keepalives": 1,
        "keepalives_idle": max(1, silent_s // 2),
        "keepalives_interval": 1,
        "keepalives_count": max(1, silent_s - silent_s // 2),
    }
    return {name: value for name, value in wanted.items() if name not in query}


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
