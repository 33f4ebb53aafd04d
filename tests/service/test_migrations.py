"""infra/migrations: the schema comes from Alembic revisions, on SQLite and
PostgreSQL, and the services refuse a database that is not at head."""
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

from convertix.contract import ACCOUNTS_SERVICE, JOBS_SERVICE
from infra import migrations
from services.accounts.service import AccountsService
from services.jobs.service import JobsService
from tests.conftest import make_service_config

# Rows as the baseline's tables hold them (raw SQL: the models may have moved on).
BASELINE_ROWS = {
    "users": {"id": "u" * 32, "username": "alice", "password_hash": "h", "roles": "admin",
              "webhook_secret": "s" * 32, "created_at": "2026-01-02 03:04:05"},
    "revoked_tokens": {"jti": "j" * 32, "expires_at": 1.5e9},
    "jobs": {"id": "a" * 32, "user_id": "u" * 32, "status": "succeeded", "options": "{}",
             "callback_url": None, "created_at": "2026-01-02 03:04:05",
             "updated_at": "2026-01-02 03:04:06"},
    "tasks": {"id": 7, "job_id": "a" * 32, "index": 0, "filename": "a.png",
              "status": "succeeded", "attempts": 1, "published": True, "output_format": "webp",
              "output_bytes": 99, "updated_at": "2026-01-02 03:04:06"},
}
KEYS = {"users": "id", "revoked_tokens": "jti", "jobs": "id", "tasks": "id"}
TIMES = {"created_at", "updated_at"}  # SQLite reads them back as text
NONE = {service: None for service in migrations.SCHEMAS}


def engine_for(url):
    return create_engine(url, poolclass=NullPool)


def insert_baseline_rows(url):
    engine = engine_for(url)
    with engine.begin() as conn:
        for table, row in BASELINE_ROWS.items():
            columns = ", ".join(f'"{c}"' for c in row)
            values = ", ".join(f":{c}" for c in row)
            conn.execute(text(f'INSERT INTO {table} ({columns}) VALUES ({values})'), row)
    engine.dispose()


def assert_baseline_rows_kept(url):
    engine = engine_for(url)
    with engine.connect() as conn:
        for table, row in BASELINE_ROWS.items():
            key = KEYS[table]
            found = conn.execute(text(f"SELECT * FROM {table} WHERE {key} = :key"),
                                 {"key": row[key]}).mappings().one()
            for column, value in row.items():
                got = str(found[column]) if column in TIMES else found[column]
                assert got == value, (table, column)
    engine.dispose()


def upgrade_to_baseline(url):
    for service in migrations.SCHEMAS:
        migrations.upgrade({service: url}, revision=migrations.baseline(service))


def test_an_empty_database_upgrades_to_head(empty_db_url):
    assert migrations.current(empty_db_url) == NONE
    migrations.upgrade(empty_db_url)
    assert migrations.current(empty_db_url) == migrations.head()
    migrations.upgrade(empty_db_url)  # again: nothing to do
    assert migrations.current(empty_db_url) == migrations.head()


def test_the_migrated_schema_is_what_the_models_declare(db_url):
    """Fails when a model changes without a revision: `make revision` (docs/DESIGN.md)."""
    engine = engine_for(db_url)
    with engine.connect() as conn:
        for service in migrations.SCHEMAS:
            options = migrations.context_options(service)
            context = MigrationContext.configure(conn, opts={
                key: options[key] for key in ("include_name", "compare_type")})
            diff = compare_metadata(context, options["target_metadata"])
            assert diff == [], (
                f"the {service} models differ from its migrations: write a revision "
                f"(make revision SCHEMA={service} MSG=...):\n{diff}")
    engine.dispose()


def test_each_schema_has_one_head():
    heads = migrations.head()  # raises on two heads (two revisions on one parent)
    assert set(heads) == set(migrations.SCHEMAS)


def test_upgrading_from_the_baseline_keeps_the_rows(empty_db_url):
    upgrade_to_baseline(empty_db_url)
    insert_baseline_rows(empty_db_url)
    migrations.upgrade(empty_db_url)
    assert migrations.current(empty_db_url) == migrations.head()
    assert_baseline_rows_kept(empty_db_url)


def test_a_database_made_before_migrations_is_adopted_with_its_rows(empty_db_url):
    # create_all made exactly the baseline's tables (the baseline is that DDL),
    # with no version table
    upgrade_to_baseline(empty_db_url)
    engine = engine_for(empty_db_url)
    with engine.begin() as conn:
        for service in migrations.SCHEMAS:
            conn.execute(text(f"DROP TABLE {migrations.version_table(service)}"))
    engine.dispose()
    insert_baseline_rows(empty_db_url)
    migrations.upgrade(empty_db_url)
    assert migrations.current(empty_db_url) == migrations.head()
    assert_baseline_rows_kept(empty_db_url)


def test_tables_unlike_the_baselines_are_refused(empty_db_url):
    engine = engine_for(empty_db_url)
    with engine.begin() as conn:  # a tasks table from before `published`
        conn.execute(text("CREATE TABLE tasks (id INTEGER PRIMARY KEY, job_id VARCHAR(32))"))
    engine.dispose()
    with pytest.raises(RuntimeError, match="'tasks' lacks .*published.*start from an empty"):
        migrations.upgrade(empty_db_url)


def test_downgrade_to_base_removes_every_table_and_upgrading_again_works(db_url):
    migrations.downgrade(db_url, "base")
    assert migrations.current(db_url) == NONE
    engine = engine_for(db_url)
    left = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {name for name in left if not name.startswith("alembic_version")} == set()
    migrations.upgrade(db_url)
    assert migrations.current(db_url) == migrations.head()


def test_schemas_on_two_databases_each_get_their_own_tables(tmp_path):
    urls = {ACCOUNTS_SERVICE: f"sqlite:///{tmp_path}/accounts.db",
            JOBS_SERVICE: f"sqlite:///{tmp_path}/jobs/jobs.db"}  # folder made as needed
    migrations.upgrade(urls)
    for service, url in urls.items():
        engine = engine_for(url)
        tables = set(inspect(engine).get_table_names())
        engine.dispose()
        assert tables == set(migrations.base(service).metadata.tables) | {
            migrations.version_table(service)}
        assert migrations.current({service: url}) == {service: migrations.head()[service]}


@pytest.mark.parametrize("service_cls", [AccountsService, JobsService])
def test_a_service_refuses_an_unmigrated_database(
        service_cls, container_factory, rabbit_config, empty_db_url, storage_root):
    config = make_service_config(rabbit_config["AMQP_URI"], empty_db_url, storage_root)
    container = container_factory(service_cls, config)
    with pytest.raises(migrations.SchemaNotCurrent,
                       match=f"the {service_cls.name} schema in .* has not been migrated: "
                             "run `make migrate`"):
        container.start()


def test_a_service_refuses_a_database_behind_its_code(
        container_factory, rabbit_config, empty_db_url, storage_root):
    migrations.upgrade(empty_db_url)
    behind = migrations.baseline(JOBS_SERVICE)
    assert behind != migrations.head()[JOBS_SERVICE]
    migrations.downgrade({JOBS_SERVICE: empty_db_url}, behind)
    config = make_service_config(rabbit_config["AMQP_URI"], empty_db_url, storage_root)
    container = container_factory(JobsService, config)
    with pytest.raises(migrations.SchemaNotCurrent,
                       match=f"is at revision {behind}, behind .*: run `make migrate`"):
        container.start()


def test_a_database_at_an_unknown_revision_is_refused(sqlite_url):
    engine = engine_for(sqlite_url)
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE {migrations.version_table(JOBS_SERVICE)} "
                          "SET version_num = 'ffffffffffff'"))
    with pytest.raises(migrations.SchemaNotCurrent, match="unknown to this version.*make migrate"):
        migrations.check(engine, JOBS_SERVICE)
    migrations.check(engine, ACCOUNTS_SERVICE)  # the other schema is at head
    engine.dispose()


def test_the_password_is_not_in_the_message(empty_db_url):
    engine = engine_for(empty_db_url)
    with pytest.raises(migrations.SchemaNotCurrent) as refused:
        migrations.check(engine, JOBS_SERVICE)
    engine.dispose()
    password = engine.url.password
    assert not password or f":{password}@" not in str(refused.value)


def test_upgrading_to_the_usage_row_fills_it_from_the_records(empty_db_url):
    """0004 (storage_usage): each user's row is what the SUM over the records gives."""
    migrations.upgrade({JOBS_SERVICE: empty_db_url}, revision="0003")
    engine = engine_for(empty_db_url)
    rows = [  # (job, user, job status, [(task status, input bytes, output bytes)])
        ("1" * 32, "u" * 32, "succeeded", [("succeeded", 1000, 70), ("succeeded", 5, None)]),
        ("2" * 32, "u" * 32, "processing", [("succeeded", 300, 40), ("queued", 200, None)]),
        ("3" * 32, "u" * 32, "cancelled", [("succeeded", 9000, 900)]),
        ("4" * 32, "v" * 32, "partial", [("failed", 50, None), ("succeeded", 60, 6)]),
        ("5" * 32, "w" * 32, "cancelled", [("cancelled", 10, None)]),
    ]
    with engine.begin() as conn:
        for job, user, status, tasks in rows:
            conn.execute(text("INSERT INTO jobs (id, user_id, status, options, created_at, "
                              "updated_at) VALUES (:id, :u, :s, '{}', '2026-01-02 03:04:05', "
                              "'2026-01-02 03:04:05')"), {"id": job, "u": user, "s": status})
            for index, (task_status, given, made) in enumerate(tasks):
                conn.execute(text(
                    'INSERT INTO tasks (job_id, "index", filename, status, attempts, published, '
                    "input_bytes, output_bytes, updated_at) VALUES (:j, :i, 'a', :s, 1, :p, :b, "
                    ":o, '2026-01-02 03:04:05')"),
                    {"j": job, "i": index, "s": task_status, "p": True, "b": given, "o": made})
    migrations.upgrade(empty_db_url)
    with engine.connect() as conn:
        usage = dict(conn.execute(text("SELECT user_id, used_bytes FROM storage_usage")).all())
    engine.dispose()
    # u: job 1's outputs (70); job 2's inputs (500) and its output (40); job 3 cancelled
    assert usage == {"u" * 32: 70 + 500 + 40, "v" * 32: 6}
