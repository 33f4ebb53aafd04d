"""The `convertix` command against the whole system as processes: it is run
as a user runs it (the console script, in a child process)."""
import json
import os
import shutil
import stat
import subprocess
import sys

import pytest
from PIL import Image

from convertix_cli import exitcodes
from tests.e2e.conftest import Stack
from tests.helpers import corpus_path
from tests.web.browser.conftest import RELAXED_AUTH_LIMITS

CONVERTIX = os.path.join(os.path.dirname(sys.executable), "convertix")
PHOTOS = ["photos/skimage/astronaut.png", "photos/skimage/coffee.png",
          "photos/imagemagick/rose.jpg"]
CORRUPT = "bad/truncated/truncated_image.png"
PASSWORD = "correct horse battery"


class Cli:
    def __init__(self, url, home):
        self.env = {**os.environ, "CONVERTIX_URL": url, "XDG_CONFIG_HOME": str(home)}
        self.home = home

    def __call__(self, *args, stdin=None):
        return subprocess.run([CONVERTIX, *args], env=self.env, input=stdin, text=True,
                              capture_output=True, timeout=180)

    def json(self, *args):
        run = self("--json", *args)
        return run, json.loads(run.stdout)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The system as processes; each test signs up (hence the relaxed limits)."""
    running = Stack(tmp_path_factory.mktemp("stack"), env=RELAXED_AUTH_LIMITS).start()
    yield running
    running.stop()


@pytest.fixture
def cli(stack, tmp_path, request):
    cli = Cli(stack.url, tmp_path / "config")
    name = request.node.name[:40].replace("_", "-")
    run = cli("register", "-u", name, "--password-stdin", stdin=PASSWORD + "\n")
    assert run.returncode == 0, run.stderr
    return cli


def folder_of(tmp_path, files):
    folder = tmp_path / "in"
    (folder / "more").mkdir(parents=True)
    for number, relative in enumerate(files):
        # one image in a subfolder: folders are walked
        target = folder / ("more" if number == 0 else "") / os.path.basename(relative)
        shutil.copy(corpus_path(relative), target)
    (folder / "README.txt").write_text("not an image: left out of the upload")
    return folder


def test_login_keeps_the_token_private_and_a_bad_password_exits_4(cli):
    token_file = cli.home / "convertix" / "tokens.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    username = next(iter(json.loads(token_file.read_text()).values()))["username"]

    run = cli("login", "-u", username, "--password-stdin", stdin="wrong password\n")
    assert run.returncode == exitcodes.AUTH
    assert "Wrong username or password" in run.stderr

    run = cli("login", "-u", username, "--password-stdin", stdin=PASSWORD + "\n")
    assert run.returncode == exitcodes.OK, run.stderr


def test_convert_a_folder_writes_the_right_files(cli, tmp_path):
    folder = folder_of(tmp_path, PHOTOS)
    out = tmp_path / "out"
    run, report = cli.json("convert", str(folder), "--to", "webp", "--width", "64",
                           "--quality", "70", "-o", str(out))
    assert run.returncode == exitcodes.OK, run.stdout + run.stderr
    assert sorted(p.name for p in out.iterdir()) == ["astronaut.webp", "coffee.webp", "rose.webp"]
    for path in out.iterdir():
        with Image.open(path) as image:
            assert image.format == "WEBP" and image.width == 64, (path, image.size)
    assert len(report["jobs"]) == 1 and report["jobs"][0]["status"] == "succeeded"
    assert {f["input"] for f in report["files"]} == {"astronaut.png", "coffee.png", "rose.jpg"}
    assert all(f["status"] == "succeeded" and os.path.exists(f["output"])
               for f in report["files"])


def test_a_corrupt_file_makes_it_partial_and_all_corrupt_failed(cli, tmp_path):
    folder = folder_of(tmp_path, [PHOTOS[1], CORRUPT])
    run, report = cli.json("convert", str(folder), "--to", "png", "-o", str(tmp_path / "out"))
    assert run.returncode == exitcodes.PARTIAL, run.stdout + run.stderr
    failed = [f for f in report["files"] if f["status"] == "failed"]
    assert [f["input"] for f in failed] == ["truncated_image.png"]
    assert failed[0]["error"]["code"] == "CORRUPT_IMAGE"
    assert "damaged" in failed[0]["error"]["sentence"]

    run = cli("convert", corpus_path(CORRUPT), "--to", "png", "-o", str(tmp_path / "out2"))
    assert run.returncode == exitcodes.FAILED, run.stdout + run.stderr
    assert "damaged or incomplete" in run.stdout


def test_no_wait_then_watch_jobs_show_download_delete(cli, tmp_path):
    run, accepted = cli.json("convert", corpus_path(PHOTOS[0]), "--to", "jpeg", "--width", "32",
                             "--no-wait")
    assert run.returncode == exitcodes.OK, run.stderr
    job_id = accepted["jobs"][0]["id"]

    run, doc = cli.json("watch", job_id)
    assert run.returncode == exitcodes.OK and doc["status"] == "succeeded", run.stderr

    run, page = cli.json("jobs")
    assert job_id in [item["id"] for item in page["items"]]
    run = cli("show", job_id)
    assert run.returncode == exitcodes.OK and "astronaut.png" in run.stdout

    run = cli("download", job_id, "-o", str(tmp_path / "got"))
    assert run.returncode == exitcodes.OK, run.stderr
    with Image.open(tmp_path / "got" / "astronaut.jpg") as image:
        assert image.format == "JPEG" and image.width == 32

    run = cli("delete", job_id)  # exit 0 only on the server's 204
    assert run.returncode == exitcodes.OK and f"Deleted job {job_id}" in run.stderr, run.stderr
    run, answer = cli.json("show", "no-such-job")
    assert run.returncode == exitcodes.REFUSED and answer["error"]["code"] == "NOT_FOUND"


def test_bad_options_unreachable_server_and_signed_out(cli, tmp_path):
    run, answer = cli.json("convert", corpus_path(PHOTOS[0]), "--to", "webp", "--width", "0")
    assert run.returncode == exitcodes.REFUSED
    assert answer["error"]["code"] == "INVALID_OPTIONS" and answer["error"]["details"]["field"] == "width"

    run = cli("--url", "http://127.0.0.1:9", "login", "-u", "someone", "--password-stdin",
              stdin=PASSWORD + "\n")
    assert run.returncode == exitcodes.CONNECTION, run.stderr

    assert cli("logout").returncode == exitcodes.OK
    run = cli("jobs")
    assert run.returncode == exitcodes.AUTH and "convertix login" in run.stderr
