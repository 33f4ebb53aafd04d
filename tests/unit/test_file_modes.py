"""Files the services create are theirs alone (the
database and logs were once 0644): files 0600, the folders they create 0700."""
import os
import stat

from convertix.storage import Storage
from infra.logs.store import LocalStore
from infra.nameko.database import _private_sqlite_file


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_storage_files_and_folders(tmp_path):
    store = Storage(tmp_path / "storage")
    job = "0123456789abcdef0123456789abcdef"
    path = store.write(store.input_path(job, 0), b"x")
    assert mode(path) == 0o600
    for folder in (tmp_path / "storage", tmp_path / "storage" / "jobs", store.job_dir(job),
                   os.path.dirname(path)):
        assert mode(folder) == 0o700, folder


def test_log_files(tmp_path):
    store = LocalStore(str(tmp_path / "log"), "gateway")
    store.write('{"message": "hello"}')
    store.close()
    assert mode(store.path) == 0o600
    assert mode(tmp_path / "log") == 0o700


def test_sqlite_database_file(tmp_path):
    path = tmp_path / "var" / "convertix.db"
    _private_sqlite_file(str(path))
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    path.chmod(0o644)  # made by a migration before the service started
    _private_sqlite_file(str(path))
    assert mode(path) == 0o600
