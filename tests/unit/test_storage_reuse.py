"""Storage for reused results: uploads hashed while written, results linked."""
import hashlib
import io
import os

import pytest
from flask import Flask, request

from convertix.storage import Storage
from gateway.storage import StagedFile, init_storage

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


def test_with_reuse_off_a_staged_upload_is_written_but_not_hashed(tmp_path):
    staged = StagedFile(str(tmp_path / "incoming"), "a.png", limit=len(DATA), hashed=False)
    staged.write(DATA)
    staged.file.seek(0)
    assert staged.file.read() == DATA and staged.sha256 is None


@pytest.mark.parametrize("reuse", [True, False])
def test_the_gateway_hashes_uploads_only_when_reuse_is_on(tmp_path, reuse):
    app = Flask(__name__)
    app.config.update(STORAGE_ROOT=str(tmp_path), MAX_FILE_BYTES=len(DATA), REUSE_RESULTS=reuse)
    init_storage(app)
    body, boundary = DATA, "cvxboundary"
    payload = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
               f"filename=\"a.bin\"\r\n\r\n").encode() + body + f"\r\n--{boundary}--\r\n".encode()
    with app.test_request_context("/", method="POST", data=payload,
                                  content_type=f"multipart/form-data; boundary={boundary}"):
        staged = request.files["file"].stream
        assert staged.size == len(DATA)
        assert (staged.sha256.hexdigest() if staged.sha256 else None) == (
            hashlib.sha256(DATA).hexdigest() if reuse else None)


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
