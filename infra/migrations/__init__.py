"""Schema migrations (Alembic): one history per service that owns tables.

Each schema (a service's declarative `Base`) has its own script folder,
versions/<service>/, and its own version table, alembic_version_<service>,
so the accounts and jobs services can share one database (config.yaml's
default) or live on two (DB_URIS). docs/DESIGN.md "Schema migrations".

    upgrade(url)   every schema on url (a str), or {service: url}, or config.yaml's
    downgrade(url, "base")
    current(url)   {service: revision or None}
    head()         {service: revision}
    check(engine, service)  raises SchemaNotCurrent unless the database is at head
"""
import functools
import os
import tempfile

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from convertix.contract import ACCOUNTS_SERVICE, JOBS_SERVICE, NOTIFIER_SERVICE
from infra.config.schema import DB_URIS_KEY
from services.accounts import models as accounts_models
from services.jobs import models as jobs_models
from services.notifier import models as notifier_models

HERE = os.path.dirname(os.path.abspath(__file__))
MIGRATE_COMMAND = "make migrate"

# service -> the declarative `Base` of its tables. The models import only
# SQLAlchemy, so importing them here costs nothing and ties nothing else in.
SCHEMAS = {
    ACCOUNTS_SERVICE: accounts_models.Base,
    JOBS_SERVICE: jobs_models.Base,
    NOTIFIER_SERVICE: notifier_models.Base,
}


class SchemaNotCurrent(RuntimeError):
    """The database is not at this code's head revision (the service refuses to start)."""


def base(service):
    return SCHEMAS[service]


def version_table(service):
    return f"alembic_version_{service}"


def db_uri_key(service):
    """The key of DB_URIS that nameko-sqlalchemy reads for this service."""
    return f"{service}:{base(service).__name__}"


def database_urls(config=None):
    """{service: url} from config.yaml's DB_URIS (or the given config dict)."""
    if config is None:
        from infra.config import load_config
        config = load_config()
    return {service: config[DB_URIS_KEY][db_uri_key(service)] for service in SCHEMAS}


def context_options(service):
    """What env.py configures Alembic with (and the tests compare with)."""
    # Schemas may share a database: a schema sees only its own tables (plus
    # any table nobody declares, so that a model removed shows up as dropped).
    others = {name for other in SCHEMAS if other != service
              for name in base(other).metadata.tables}

    def include_name(name, type_, parent_names):
        if type_ == "table":
            return name not in others and not name.startswith("alembic_version")
        return True

    return dict(
        target_metadata=base(service).metadata,
        version_table=version_table(service),
        include_name=include_name,
        # SQLite cannot ALTER most things: autogenerate writes batch operations
        # (copy and swap the table there; plain ALTERs on PostgreSQL).
        render_as_batch=True,
        compare_type=True,
    )


def alembic_config(service, url=None):
    """Alembic's Config for one schema; url None: config.yaml's."""
    cfg = Config(os.path.join(HERE, "alembic.ini"), ini_section=service)
    cfg.set_main_option("script_location", HERE)
    cfg.set_main_option("version_locations", os.path.join(HERE, "versions", service))
    cfg.attributes["service"] = service
    if url is not None:
        cfg.attributes["url"] = url
    return cfg


def _urls(url):
    if url is None:
        return database_urls()
    if isinstance(url, str):
        return {service: url for service in SCHEMAS}
    return dict(url)


def upgrade(url=None, revision="head"):
    for service, service_url in _urls(url).items():
        _prepare_sqlite(service_url)
        adopt(service, service_url)
        command.upgrade(alembic_config(service, service_url), revision)


def adopt(service, url):
    """A database made before migrations (by create_all) has the baseline's
    tables but no version table: stamp it at the baseline, so that upgrading
    keeps its rows. Tables that differ from the baseline are refused."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            if _current(conn, service) is not None:
                return
            inspector = inspect(conn)
            found = {name: {c["name"] for c in inspector.get_columns(name)}
                     for name in _baseline_tables(service) if inspector.has_table(name)}
    finally:
        engine.dispose()
    if not found:
        return  # a new database
    wanted = _baseline_tables(service)
    if found != wanted:
        problems = [_difference(name, columns, found.get(name))
                    for name, columns in sorted(wanted.items()) if columns != found.get(name)]
        raise RuntimeError(
            f"the {service} tables were made before migrations but are not the baseline's "
            f"({'; '.join(problems)}): start from an empty database")
    command.stamp(alembic_config(service, url), baseline(service))


def _difference(table, wanted, found):
    if found is None:
        return f"no table '{table}'"
    missing, extra = sorted(wanted - found), sorted(found - wanted)
    return f"'{table}'" + (f" lacks {', '.join(missing)}" if missing else "") + (
        f" has {', '.join(extra)} too" if extra else "")


def baseline(service):
    """The first revision: the schema as create_all made it before migrations."""
    return ScriptDirectory.from_config(alembic_config(service)).get_base()


@functools.lru_cache(maxsize=None)
def _baseline_tables(service):
    """{table: {column names}} of the baseline revision, read from a scratch SQLite."""
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{os.path.join(scratch, 'baseline.db')}"
        command.upgrade(alembic_config(service, url), baseline(service))
        engine = create_engine(url, poolclass=NullPool)
        try:
            inspector = inspect(engine)
            return {name: {c["name"] for c in inspector.get_columns(name)}
                    for name in inspector.get_table_names()
                    if name != version_table(service)}
        finally:
            engine.dispose()


def downgrade(url=None, revision="base"):
    for service, service_url in _urls(url).items():
        command.downgrade(alembic_config(service, service_url), revision)


def head():
    return {service: _head(service) for service in SCHEMAS}


def _head(service):
    heads = ScriptDirectory.from_config(alembic_config(service)).get_heads()
    if len(heads) != 1:
        raise RuntimeError(
            f"the {service} migrations have {len(heads)} heads ({', '.join(heads)}): two "
            "revisions follow the same one; set the newer one's down_revision to the other")
    return heads[0]


def current(url=None):
    result = {}
    for service, service_url in _urls(url).items():
        engine = create_engine(service_url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                result[service] = _current(conn, service)
        finally:
            engine.dispose()
    return result


def _current(conn, service):
    context = MigrationContext.configure(conn, opts={"version_table": version_table(service)})
    heads = context.get_current_heads()
    return heads[0] if heads else None


def check(engine, service):
    """Raise SchemaNotCurrent, naming the command to run, unless `engine`'s
    database holds `service`'s schema at this code's head revision."""
    wanted = _head(service)
    with engine.connect() as conn:
        found = _current(conn, service)
    if found == wanted:
        return
    where = make_url(engine.url).render_as_string(hide_password=True)
    if found is None:
        state = "has not been migrated"
    elif found in _revisions(service):
        state = f"is at revision {found}, behind {wanted}"
    else:
        state = f"is at revision {found}, unknown to this version of Convertix (a newer one?)"
    raise SchemaNotCurrent(
        f"the {service} schema in {where} {state}: run `{MIGRATE_COMMAND}` "
        "(python -m infra.migrations upgrade) before starting the services")


def _revisions(service):
    return {rev.revision for rev in
            ScriptDirectory.from_config(alembic_config(service)).walk_revisions()}


def _prepare_sqlite(url):
    # SQLite creates the file but not its folder (make run's var/).
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        os.makedirs(os.path.dirname(os.path.abspath(parsed.database)), exist_ok=True)
