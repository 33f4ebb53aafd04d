"""Storage for reused results: uploads hashed while written, results linked."""
import hashlib
import io
import os

import pytest

from convertix.storage import Storage
from gateway.storage import StagedFile

JOB, OTHER = "0123456789abcdef0123456789abcdef", "f" * 32
DATA = bytes(range(256)) * 1000


def test_write_stream_hashes_the_chunks_it_writes(tmp_path):
    storage = Storage(tmp_path)
    digest = hashlib.sha256()
    path = storage.input_path(JOB, 0)
    size = storage.write_stream(path, DATA[:100], io.BytesIO(DATA[100:]), len(DATA), chunk=4096,
                                digest=digest)
    assert size == len(DATA) and storage.read(path) == DATA
    assert digest.hexdigest() == hashlib.sha256(DATA).hexdigest()


def test_a_staged_upload_is_hashed_as_the_parser_writes_it(tmp_path):
    staged = StagedFile(str(tmp_path / "incoming"), "a.png", limit=len(DATA))
    for start in range(0, len(DATA), 65536):
        staged.write(DATA[start:start + 65536])
    staged.file.close()
    assert staged.sha256.hexdigest() == hashlib.sha256(DATA).hexdigest()


def test_link_gives_a_second_name_that_outlives_the_first(tmp_path):
    storage = Storage(tmp_path)
    source = storage.write(storage.output_path(JOB, 0, "webp"), DATA)
    target = storage.link(source, storage.output_path(OTHER, 3, "webp"))
    assert os.stat(target).st_ino == os.stat(source).st_ino  # a hard link: no copy
    storage.delete_job(JOB)
    assert storage.read(target) == DATA
    assert [n for n in os.listdir(os.path.dirname(target)) if n.startswith(".tmp")] == []


def test_link_copies_where_there_are_no_hard_links(tmp_path, monkeypatch):
    storage = Storage(tmp_path)
    source = storage.write(storage.output_path(JOB, 0, "webp"), DATA)

    def refuse(*_args):
        raise PermissionError("no hard links on this file system")
    monkeypatch.setattr(os, "link", refuse)
    target = storage.link(source, storage.output_path(OTHER, 0, "webp"))
    assert storage.read(target) == DATA
    assert os.stat(target).st_ino != os.stat(source).st_ino


def test_link_of_a_file_that_has_gone_fails_and_leaves_nothing(tmp_path):
    storage = Storage(tmp_path)
    target = storage.output_path(OTHER, 0, "webp")
    with pytest.raises(FileNotFoundError):
        storage.link(storage.output_path(JOB, 0, "webp"), target)
    assert os.listdir(os.path.dirname(target)) == []
