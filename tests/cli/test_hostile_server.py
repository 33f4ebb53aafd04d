"""`convertix download` against a hostile server: a real HTTP server on
127.0.0.1 answers the endpoints the command calls, each result with a
`Content-Disposition` name meant to escape `-o` (a relative climb, an absolute
path, backslashes, a NUL, an empty or dot name, a symbolic link planted in the
folder). The command is run as a user runs it (the console script)."""
import http.server
import json
import os
import subprocess
import sys
import threading

import pytest

from convertix_cli import exitcodes

CONVERTIX = os.path.join(os.path.dirname(sys.executable), "convertix")
JOB = "0123456789abcdef0123456789abcdef"


def hostile_names(tmp_path):
    """(Content-Disposition, output format in the job document, the name
    the file must get inside -o), one per task."""
    return [
        ("attachment; filename*=UTF-8''..%2F..%2Fpwned.txt", "png", "pwned.txt"),
        (f'attachment; filename="{tmp_path / "absolute-pwned.txt"}"', "png", "absolute-pwned.txt"),
        ("attachment; filename*=UTF-8''%2E%2E%5C%2E%2E%5Cbackslash-pwned.txt", "png",
         "backslash-pwned.txt"),
        ("attachment; filename*=UTF-8''nul%00byte.png", "png", "nulbyte.png"),
        ('attachment; filename=""', "../../format-pwned", "format-pwned"),  # the fallback too
        ("attachment; filename*=UTF-8''..", "png", "5.png"),
        ('attachment; filename="."', "png", "6.png"),
        ('attachment; filename="planted.png"', "png", "planted.png"),
        ("attachment; filename*=UTF-8''%2Fdev%2Fnull", "png", "null"),
    ]


def job_document(names):
    tasks = [{"index": index, "filename": f"in-{index}.png", "status": "succeeded",
              "attempts": 1, "error": None,
              "output": {"url": f"/api/v1/jobs/{JOB}/tasks/{index}/result", "format": fmt,
                         "width": 1, "height": 1, "bytes": 9}}
             for index, (_, fmt, _) in enumerate(names)]
    return {"id": JOB, "status": "succeeded", "created_at": "2026-01-01T00:00:00Z",
            "tasks": tasks}


def body_of(index):
    return f"result {index}\n".encode()


@pytest.fixture
def hostile(tmp_path):
    names = hostile_names(tmp_path)
    answers = {
        "/api/v1/formats": {"input": ["png"], "output": ["png"], "operations": [],
                            "extensions": {"png": ["png"]}, "media_types": {"png": []},
                            "final_statuses": {"job": ["cancelled", "failed", "partial",
                                                       "succeeded"],
                                               "task": ["cancelled", "failed", "succeeded"]}},
        f"/api/v1/jobs/{JOB}": job_document(names),
    }

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def send(self, status, body, headers=()):
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/api/v1/auth/login":
                self.send(200, json.dumps({"access_token": "a", "refresh_token": "r",
                                           "token_type": "Bearer", "expires_in": 3600}).encode(),
                          [("Content-Type", "application/json")])
            else:
                self.send(404, b"{}")

        def do_GET(self):
            if self.path in answers:
                self.send(200, json.dumps(answers[self.path]).encode(),
                          [("Content-Type", "application/json")])
                return
            for index, (disposition, _, _) in enumerate(names):
                if self.path == f"/api/v1/jobs/{JOB}/tasks/{index}/result":
                    self.send(200, body_of(index), [("Content-Type", "image/png"),
                                                    ("Content-Disposition", disposition)])
                    return
            self.send(404, b"{}")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", names
    server.shutdown()
    server.server_close()


def files_under(root):
    """Every path under `root` (links not followed) -> its bytes, or where it points."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                found[path] = "-> " + os.readlink(path)
            elif os.path.isfile(path):
                with open(path, "rb") as handle:
                    found[path] = handle.read()
    return found


def test_download_writes_only_inside_the_out_folder(hostile, tmp_path):
    url, names = hostile
    home = tmp_path / "home"          # the CLI's config (its tokens) lives here
    out = tmp_path / "a" / "b" / "out"  # ../.. of it is still inside tmp_path
    out.mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("the user's own file\n")
    os.symlink(victim, out / "planted.png")
    env = {**os.environ, "CONVERTIX_URL": url, "XDG_CONFIG_HOME": str(home)}
    login = subprocess.run([CONVERTIX, "login", "-u", "someone", "--password-stdin"], env=env,
                           input="secret\n", text=True, capture_output=True, timeout=60)
    assert login.returncode == exitcodes.OK, login.stderr
    before = {path: data for path, data in files_under(tmp_path).items()
              if not path.startswith(str(out) + os.sep)}

    run = subprocess.run([CONVERTIX, "--json", "download", JOB, "-o", str(out)], env=env,
                         text=True, capture_output=True, timeout=60)

    after = {path: data for path, data in files_under(tmp_path).items()
             if not path.startswith(str(out) + os.sep)}
    assert after == before, "written outside -o: " + ", ".join(sorted(set(after) - set(before)))
    assert victim.read_text() == "the user's own file\n"
    assert run.returncode == exitcodes.OK, run.stdout + run.stderr
    written = files_under(out)
    expected = {str(out / name): body_of(index) for index, (_, _, name) in enumerate(names)}
    assert written == expected
    assert not os.path.islink(out / "planted.png")
    report = json.loads(run.stdout)
    assert sorted(item["output"] for item in report["files"]) == sorted(expected)
