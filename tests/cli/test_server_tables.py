"""The CLI takes the server's tables (GET /formats): which file endings a
folder walk sends, and which statuses are final."""
from pathlib import Path

import pytest

from convertix.contract import JOB_FINAL, TASK_FINAL
from convertix_cli.files import collect, endings_of, readable
from convertix_cli.follow import final_statuses, progress_of

SERVED = {"input": ["jpeg", "pgm", "png", "ppm"], "output": ["png"], "operations": [],
          "extensions": {"jpeg": ["jpg", "jpeg", "jpe", "jfif"], "pgm": ["pgm"],
                         "png": ["png", "apng"], "ppm": ["ppm", "pnm"]},
          "final_statuses": {"job": ["done"], "task": ["over"]}}
OLDER = {"input": ["jpeg", "png"], "output": ["png"], "operations": []}  # before the tables


@pytest.mark.parametrize("formats, name, sent", [
    (SERVED, "a.JPG", True),       # an ending of the server's table, any case
    (SERVED, "a.jfif", True),
    (SERVED, "a.pgm", True),        # pgm is its own format, not folded into ppm
    (SERVED, "a.pnm", True),
    (SERVED, "a.pbm", False),       # this server does not read it
    (SERVED, "a.txt", False),
    (SERVED, "jpg", False),         # a name without an ending
    (OLDER, "a.png", True),         # an older server: the format's own name still counts
    (OLDER, "a.jpeg", True),
    (OLDER, "a.jpg", False),
])
def test_a_folder_walk_sends_what_the_server_reads(formats, name, sent):
    assert readable(Path(name), endings_of(formats)) is sent


def test_each_ending_names_the_servers_format():
    endings = endings_of(SERVED)
    assert endings["jpg"] == "jpeg" and endings["pgm"] == "pgm" and endings["pnm"] == "ppm"


def test_collect_walks_folders_with_the_servers_endings(tmp_path):
    (tmp_path / "in" / "more").mkdir(parents=True)
    for name in ("in/a.jpg", "in/more/b.pgm", "in/c.txt", "in/.hidden.png"):
        (tmp_path / name).write_bytes(b"x")
    named = tmp_path / "named.txt"   # a file named on the command line goes as it is
    named.write_bytes(b"x")
    found = collect([tmp_path / "in", named], endings_of(SERVED))
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "in/a.jpg", "in/more/b.pgm", "named.txt"]


def test_final_statuses_are_the_servers_or_the_contracts_for_an_older_server():
    assert final_statuses(SERVED) == ({"done"}, {"over"})
    assert final_statuses(OLDER) == (JOB_FINAL, TASK_FINAL)


def test_progress_counts_the_servers_final_task_statuses():
    doc = {"tasks": [{"status": "over"}, {"status": "processing", "stage": "encode"},
                     {"status": "queued"}]}
    assert progress_of(doc, {"over"}) == (1.75, 3)
