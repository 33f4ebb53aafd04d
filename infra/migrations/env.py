"""Alembic's environment for one schema (one service's Base).

The schema is the ini section (`alembic -n jobs`) or the `service` attribute
set by infra.migrations; the URL is the `url` attribute, or config.yaml's
DB_URIS entry for that service.
"""
from alembic import context
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from infra import migrations

config = context.config
service = config.attributes.get("service") or config.config_ini_section
url = config.attributes.get("url") or migrations.database_urls()[service]
options = migrations.context_options(service)


def run_offline():
    context.configure(url=url, literal_binds=True, **options)
    with context.begin_transaction():
        context.run_migrations()


def run_online():
    # No PRAGMA foreign_keys here: with it on, SQLite's batch copy-and-swap
    # of a referenced table would cascade its deletes.
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, **options)
            with context.begin_transaction():
                if connection.dialect.name == "postgresql":
                    # two processes migrating at once (two replicas starting): one waits
                    connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                                       {"key": options["version_table"]})
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
