import os

import pytest

from convertix.storage import Storage, result_filename, safe_filename

JOB = "0123456789abcdef0123456789abcdef"


def test_paths_never_use_client_names(tmp_path):
    storage = Storage(tmp_path)
    assert storage.input_path(JOB, 3) == os.path.join(str(tmp_path), "jobs", JOB, "input", "3")
    with pytest.raises(ValueError):
        storage.job_dir("../etc")
    with pytest.raises(ValueError):
        storage.output_path(JOB, 0, "../x")


def test_atomic_write_read_delete(tmp_path):
    storage = Storage(tmp_path)
    path = storage.write(storage.output_path(JOB, 0, "png"), b"abc")
    assert storage.read(path) == b"abc"
    assert [n for n in os.listdir(os.path.dirname(path)) if n.startswith(".tmp")] == []
    storage.delete_job(JOB)
    assert not storage.exists(path)


@pytest.mark.parametrize("name, expected", [
    ("cat.heic", "cat.heic"),
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\x\\photo 1.jpg", "photo_1.jpg"),
    ('a"b\r\nc.png', "a_b_c.png"),
    ("", "image"),
    ("...", "image"),
])
def test_safe_filename(name, expected):
    assert safe_filename(name) == expected


def test_result_filename_takes_the_new_extension():
    assert result_filename("holiday.heic", 0, "webp") == "holiday.webp"


def test_delete_prunes_empty_job_folders_only(tmp_path):
    storage = Storage(tmp_path)
    kept = storage.write(storage.input_path(JOB, 0), b"in")
    late = storage.write(storage.output_path(JOB, 1, "png"), b"late")
    storage.delete(late)
    assert not os.path.exists(os.path.dirname(late))       # output/ was left empty: gone
    assert os.path.exists(kept)                            # the job folder still holds input/
    storage.delete(kept)
    assert not os.path.exists(storage.job_dir(JOB))
    assert os.path.isdir(os.path.join(str(tmp_path), "jobs"))  # never above jobs/


def test_job_id_with_a_newline_is_refused(tmp_path):
    with pytest.raises(ValueError):
        Storage(tmp_path).job_dir("0123456789abcdef0123456789abcdef\n")


def test_write_stream_is_bounded_and_leaves_nothing_when_too_large(tmp_path):
    import io

    from convertix.errors import FileTooLarge

    storage = Storage(tmp_path)
    path = storage.input_path(JOB, 0)
    assert storage.write_stream(path, b"head", io.BytesIO(b"x" * 10), limit=14, chunk=3) == 14
    assert storage.read(path) == b"head" + b"x" * 10
    with pytest.raises(FileTooLarge):
        storage.write_stream(storage.input_path(JOB, 1), b"head", io.BytesIO(b"x" * 11),
                             limit=14, chunk=3)
    assert sorted(os.listdir(os.path.dirname(path))) == ["0"]  # no partial file, no temp
