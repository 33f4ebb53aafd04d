"""GET /archive's zip is written while sent: pieces of
about one chunk, never the whole archive; the result is a valid zip."""
import io
import os
import shutil
import subprocess
import zipfile

import pytest

from gateway.archive import stream_zip

CHUNK = 64 * 1024


def test_the_zip_comes_in_chunk_sized_pieces_and_holds_every_file(tmp_path):
    files = []
    for n in range(3):
        path = tmp_path / f"{n}.bin"
        path.write_bytes(os.urandom(5 * CHUNK + n))
        files.append((str(path), f"{n}-image.bin"))

    pieces = list(stream_zip(files, chunk=CHUNK))
    assert max(len(piece) for piece in pieces) < CHUNK + 1024  # one chunk and a header
    assert sum(1 for piece in pieces if piece) > 15  # sent as it was written
    data = b"".join(pieces)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == [name for _, name in files]
        for path, name in files:
            assert archive.read(name) == open(path, "rb").read()
            assert archive.getinfo(name).compress_type == zipfile.ZIP_STORED


def test_a_file_removed_meanwhile_is_left_out(tmp_path):
    kept = tmp_path / "kept.bin"
    kept.write_bytes(b"x" * 10)
    data = b"".join(stream_zip([(str(tmp_path / "gone.bin"), "gone"), (str(kept), "kept")]))
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["kept"]


@pytest.mark.skipif(not shutil.which("unzip"), reason="no unzip here")
def test_unzip_reads_it(tmp_path):
    source = tmp_path / "a.bin"
    source.write_bytes(os.urandom(3 * CHUNK))
    target = tmp_path / "out.zip"
    target.write_bytes(b"".join(stream_zip([(str(source), "a.bin")], chunk=CHUNK)))
    subprocess.run(["unzip", "-t", str(target)], check=True, capture_output=True)
