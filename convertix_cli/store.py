"""Tokens on disk: one JSON file under the user's config dir, mode 0600,
holding a session per server URL (so one machine can use several servers)."""
import json
import os
from pathlib import Path

from platformdirs import user_config_dir

FILE_NAME = "tokens.json"


def token_file():
    # $XDG_CONFIG_HOME is honoured by platformdirs on Linux
    return Path(user_config_dir("convertix")) / FILE_NAME


def _read_all():
    try:
        return json.loads(token_file().read_text())
    except (FileNotFoundError, ValueError):
        return {}


def load(url):
    return _read_all().get(url)


def save(url, session):
    sessions = _read_all()
    if session is None:
        sessions.pop(url, None)
    else:
        sessions[url] = session
    path = token_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # created 0600 before anything is written: no moment where others can read it
    fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(sessions, handle)
    os.chmod(path.with_suffix(".tmp"), 0o600)
    os.replace(path.with_suffix(".tmp"), path)
