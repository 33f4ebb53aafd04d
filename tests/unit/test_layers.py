"""The test layers' marks (tests/conftest.py): `-m <layer>` selects exactly
that folder, and `make test-fast`'s selection starts no process. Collected in
a child pytest, as `make test` collects the suite."""
import json
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import EXTRA_MARKS, LAYERS, PROCESSES

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Writes {node id: its marks' names} once pytest has collected (and marked) the suite.
DUMP_PLUGIN = '''
import json, os

def pytest_collection_finish(session):
    with open(os.environ["MARKS_OUT"], "w") as handle:
        json.dump({item.nodeid: sorted({m.name for m in item.iter_markers()})
                   for item in session.items}, handle)
'''


def collect(tmp_path, *args):
    """The child pytest's collection: {node id: marks}."""
    (tmp_path / "dump_marks.py").write_text(DUMP_PLUGIN)
    out = tmp_path / "marks.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-p", "dump_marks", *args, "tests"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "MARKS_OUT": str(out),
             "PYTHONPATH": os.pathsep.join([str(tmp_path), ROOT])})
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    return collect(tmp_path_factory.mktemp("collect"))


def folder(node_id):
    return node_id.split("/")[1]


def test_every_test_is_in_a_layer(suite):
    assert suite, "nothing collected"
    assert {folder(node) for node in suite} <= set(LAYERS)


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_a_layers_mark_selects_exactly_its_folder(suite, layer):
    marked = {node for node, marks in suite.items() if layer in marks}
    in_folder = {node for node in suite if folder(node) == layer}
    assert in_folder, f"tests/{layer} has no test"
    assert marked == in_folder


def test_the_layers_that_start_processes_are_marked_whole(suite):
    for where, marks in EXTRA_MARKS.items():
        prefix = "tests/" + "/".join(where) + "/"
        inside = [marks_ for node, marks_ in suite.items() if node.startswith(prefix)]
        assert inside, f"{prefix} has no test"
        assert all(set(marks) <= set(found) for found in inside), prefix


def test_make_test_fast_starts_no_process(tmp_path):
    with open(os.path.join(ROOT, "Makefile")) as handle:
        recipe = re.search(r"^test-fast:.*?\n((?:\t.*\n)+)", handle.read(), re.M).group(1)
    expression = re.search(r'-m "([^"]+)"', recipe).group(1)
    selected = collect(tmp_path, "-m", expression)
    assert selected
    starting = {node for node, marks in selected.items() if PROCESSES in marks}
    assert not starting
    process_folders = {where[0] for where, marks in EXTRA_MARKS.items()
                       if len(where) == 1 and PROCESSES in marks}
    assert not {node for node in selected if folder(node) in process_folders}
    # and what it leaves out is exactly what is marked so
    assert "unit" in {folder(node) for node in selected}
