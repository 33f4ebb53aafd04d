"""The `convertix` commands (typer). Exit statuses: convertix_cli/exitcodes.py."""
import functools
import inspect
import json
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from convertix.messages import sentence
from convertix_cli import exitcodes
from convertix_cli.client import API, Client, CliError, filename_of
from convertix_cli.files import batches, collect, endings_of, upload_body
from convertix_cli.follow import final_statuses, follow, progress_of
from convertix_cli.names import safe_name, write_inside

DEFAULT_URL = "http://127.0.0.1:8080"
MAX_FILES_PER_JOB = 50  # the server's default limit (LIMITS.max_files)

app = typer.Typer(help="Convert images with a Convertix server.", no_args_is_help=True,
                  add_completion=False)
out = Console()                # results: tables, or JSON with --json
err = Console(stderr=True)     # progress and messages


class State:
    def __init__(self, url, as_json):
        self.url, self.as_json = url, as_json
        self._client = None

    @property
    def client(self):
        if self._client is None:
            self._client = Client(self.url)
        return self._client


@app.callback()
def main(ctx: typer.Context,
         url: str = typer.Option(DEFAULT_URL, "--url", envvar="CONVERTIX_URL",
                                 help="The server (or set CONVERTIX_URL)."),
         as_json: bool = typer.Option(False, "--json", help="Print JSON, for scripts.")):
    ctx.obj = State(url, as_json)


def command(function):
    """A command whose CliError ends it with its exit status and a message."""
    @functools.wraps(function)
    def wrapper(ctx: typer.Context, *args, **kwargs):
        state = ctx.obj
        try:
            code = function(state, *args, **kwargs)
        except CliError as exc:
            if state.as_json:
                print(json.dumps({"error": {"code": exc.code, "message": exc.message,
                                            "details": exc.details or {}}}))
            else:
                text = exc.message
                if exc.code and sentence(exc.code, "") and sentence(exc.code) != text:
                    text = f"{sentence(exc.code)} ({exc.message})"
                err.print(f"[red]error:[/red] {text}", highlight=False)
            code = exc.exit_code
        finally:
            if state._client is not None:
                state._client.close()
        raise typer.Exit(code or exitcodes.OK)
    # typer reads the signature: ctx first, then the command's own parameters
    params = list(inspect.signature(function).parameters.values())[1:]
    wrapper.__signature__ = inspect.Signature(
        [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                           annotation=typer.Context)] + params)
    return wrapper


def emit(state, data, human):
    if state.as_json:
        print(json.dumps(data, indent=2))
    else:
        human()


# --- account ---
@app.command()
@command
def login(state,
          username: str = typer.Option(..., "--username", "-u", prompt=True),
          password_stdin: bool = typer.Option(False, "--password-stdin",
                                              help="Read the password from standard input.")):
    """Sign in; the tokens are kept (mode 0600) under your config folder."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True)
    state.client.login(username, password)
    emit(state, {"url": state.url, "username": username},
         lambda: err.print(f"Signed in to {state.url} as {username}."))


@app.command()
@command
def register(state,
             username: str = typer.Option(..., "--username", "-u", prompt=True),
             password_stdin: bool = typer.Option(False, "--password-stdin")):
    """Create an account, then sign in."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    state.client.json("POST", "/auth/register", expect=(201,), auth=False,
                      json={"username": username, "password": password})
    state.client.login(username, password)
    emit(state, {"url": state.url, "username": username},
         lambda: err.print(f"Account {username} created; signed in to {state.url}."))


@app.command()
@command
def logout(state):
    """Sign out: the server revokes the session, the local tokens are removed."""
    state.client.logout()
    emit(state, {"signed_out": True}, lambda: err.print("Signed out."))


# --- converting ---
def _options(to, width, height, quality, fit, option):
    options = {"format": to}
    for key, value in (("width", width), ("height", height), ("quality", quality), ("fit", fit)):
        if value is not None:
            options[key] = value
    for item in option:
        key, _, raw = item.partition("=")
        try:
            options[key] = json.loads(raw)
        except ValueError:
            options[key] = raw
    return options


def _watch(state, job_ids):
    """Follow jobs to their final status, a progress bar each; their final documents."""
    finals = []
    if state.as_json:
        return [follow(state.client, job_id, lambda doc: None) for job_id in job_ids]
    _, task_final = final_statuses(state.client.formats())
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[words]}"),
               TimeElapsedColumn())
    with Progress(*columns, console=err) as progress:
        bars = {job_id: progress.add_task(f"job {job_id[:8]}", total=None, words="waiting")
                for job_id in job_ids}

        def on_change(doc):
            done, total = progress_of(doc, task_final)
            words = doc["status"]
            if doc.get("queue_position"):
                words += f" (queue position {doc['queue_position']})"
            progress.update(bars[doc["id"]], completed=done, total=total, words=words)

        for job_id in job_ids:
            finals.append(follow(state.client, job_id, on_change))
    return finals


def _download(state, doc, outdir, taken):
    """Write each succeeded output of `doc` into `outdir`, and nowhere else
    (convertix_cli/names.py); the files written."""
    outdir.mkdir(parents=True, exist_ok=True)
    written = {}
    for task in doc["tasks"]:
        if task["status"] != "succeeded":
            continue
        response = state.client.call("GET", task["output"]["url"][len(API):])
        name = filename_of(response, f"{task['index']}.{task['output']['format']}")
        if name in taken or (outdir / name).is_dir():  # two inputs with one stem: keep both
            stem, dot, ending = name.rpartition(".")
            name = safe_name(f"{stem}-{task['index']}{dot}{ending}" if dot
                             else f"{name}-{task['index']}")
        taken.add(name)
        try:
            write_inside(outdir, name, response.content)
        except OSError as exc:  # e.g. a folder in the way, a full disk
            raise CliError(f"cannot write {name} in {outdir}: {exc}", exitcodes.USAGE) from None
        written[task["index"]] = str(outdir / name)
    return written


def _report(state, docs, written):
    files = []
    for doc, paths in zip(docs, written):
        for task in doc["tasks"]:
            error = task.get("error")
            files.append({"job": doc["id"], "input": task["filename"], "status": task["status"],
                          "output": paths.get(task["index"]),
                          "error": error and {**error, "sentence": sentence(error["code"])}})

    def human():
        table = Table("file", "status", "result")
        for item in files:
            result = item["output"] or (item["error"]["sentence"] if item["error"] else "")
            colour = "green" if item["status"] == "succeeded" else "red"
            table.add_row(item["input"], f"[{colour}]{item['status']}[/{colour}]", result)
        out.print(table)
    emit(state, {"jobs": docs, "files": files}, human)


@app.command()
@command
def convert(state,
            paths: List[Path] = typer.Argument(..., help="Image files, or folders of images."),
            to: str = typer.Option(..., "--to", "-t", help="Output format, e.g. webp."),
            width: Optional[int] = typer.Option(None, "--width", "-w"),
            height: Optional[int] = typer.Option(None, "--height", "-h"),
            quality: Optional[int] = typer.Option(None, "--quality", "-q"),
            fit: Optional[str] = typer.Option(None, "--fit"),
            option: List[str] = typer.Option([], "--option", help="Any option as KEY=JSON, "
                                             "e.g. --option grayscale=true (repeatable)."),
            outdir: Path = typer.Option(Path("."), "--out", "-o", help="Where results go."),
            wait: bool = typer.Option(True, "--wait/--no-wait",
                                      help="Follow the jobs and download the results."),
            batch: int = typer.Option(MAX_FILES_PER_JOB, "--batch", help="Files per job.")):
    """Upload images (one job per batch), follow them live, download the results."""
    try:
        files = collect(paths, endings_of(state.client.formats()))
    except FileNotFoundError as exc:
        raise CliError(f"no such file or folder: {exc}", exitcodes.USAGE) from None
    if not files:
        raise CliError("no image files found in " + ", ".join(map(str, paths)), exitcodes.USAGE)
    options = _options(to, width, height, quality, fit, option)
    state.client.access_token()  # refreshed before the upload, not after
    accepted = []
    for group in batches(files, batch):  # a single file: a raw body
        accepted.append(state.client.json("POST", "/jobs", expect=(202,),
                                          **upload_body(group, options)))
    if not wait:
        emit(state, {"jobs": accepted}, lambda: [
            out.print(f"job {doc['id']} accepted: {len(doc['tasks'])} files")
            for doc in accepted])
        return exitcodes.OK
    docs = _watch(state, [doc["id"] for doc in accepted])
    taken = set()
    written = [_download(state, doc, outdir, taken) for doc in docs]
    _report(state, docs, written)
    return exitcodes.for_jobs(doc["status"] for doc in docs)


# --- jobs ---
@app.command()
@command
def jobs(state,
         status: Optional[str] = typer.Option(None, "--status"),
         limit: int = typer.Option(20, "--limit"),
         cursor: Optional[str] = typer.Option(None, "--cursor",
                                              help="next_cursor of the previous page")):
    """Your jobs, newest first."""
    params = {"limit": limit, **({"status": status} if status else {}),
              **({"cursor": cursor} if cursor else {})}
    page = state.client.json("GET", "/jobs", params=params)

    def human():
        table = Table("created", "status", "files")
        table.add_column("id", no_wrap=True, min_width=32)
        for doc in page["items"]:
            table.add_row(doc.get("created_at", ""), doc["status"], str(len(doc["tasks"])),
                          doc["id"])
        out.print(table)
        if page.get("next_cursor"):
            err.print(f"more: convertix jobs --cursor {page['next_cursor']}")
    emit(state, page, human)


def _show_job(doc):
    out.print(f"job {doc['id']}: [bold]{doc['status']}[/bold]  created {doc.get('created_at', '')}")
    table = Table("#", "file", "status", "output / error")
    for task in doc["tasks"]:
        output, error = task.get("output"), task.get("error")
        if error:
            detail = f"{sentence(error['code'])} ({error['code']})"
        elif output:
            detail = f"{output['format']} {output['width']}×{output['height']} {output['bytes']} B"
        else:
            detail = task.get("stage") or ""
        table.add_row(str(task["index"]), task["filename"], task["status"], detail)
    out.print(table)


@app.command()
@command
def show(state, job_id: str = typer.Argument(..., metavar="ID")):
    """One job: its status and each file's result."""
    doc = state.client.json("GET", f"/jobs/{job_id}")
    emit(state, doc, lambda: _show_job(doc))
    return exitcodes.BY_JOB_STATUS.get(doc["status"], exitcodes.OK)  # OK while it runs


@app.command()
@command
def watch(state, job_id: str = typer.Argument(..., metavar="ID")):
    """Follow a job live until it ends; the exit status says how it ended."""
    (doc,) = _watch(state, [job_id])
    emit(state, doc, lambda: _show_job(doc))
    return exitcodes.BY_JOB_STATUS[doc["status"]]


@app.command()
@command
def download(state, job_id: str = typer.Argument(..., metavar="ID"),
             outdir: Path = typer.Option(Path("."), "--out", "-o")):
    """Download a job's results into a folder."""
    doc = state.client.json("GET", f"/jobs/{job_id}")
    job_final, _ = final_statuses(state.client.formats())
    if doc["status"] not in job_final:
        raise CliError(f"job {job_id} is {doc['status']}: `convertix watch {job_id}` first",
                       exitcodes.REFUSED, code="NOT_READY")
    written = _download(state, doc, outdir, set())
    _report(state, [doc], [written])
    return exitcodes.BY_JOB_STATUS[doc["status"]]


@app.command()
@command
def delete(state, job_id: str = typer.Argument(..., metavar="ID")):
    """Delete a job: unfinished files are cancelled, every stored file removed."""
    state.client.call("DELETE", f"/jobs/{job_id}", expect=(204,))
    emit(state, {"deleted": job_id}, lambda: err.print(f"Deleted job {job_id}."))


def run():
    app()
