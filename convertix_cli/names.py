"""The name a downloaded file gets: the server's `Content-Disposition` name is
the server's text, and a hostile server (or anyone on a plain-http path) could
send `../../.bashrc`, an absolute path, backslashes or a NUL. Only a safe base
name of it is kept; `write_inside` then writes nowhere but the chosen folder."""
import os
import re
import secrets
from pathlib import Path
from urllib.parse import unquote

# Control characters (NUL included), the Unicode line separators and the
# bidirectional overrides that make a name read as another one.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# Characters Windows and SMB shares refuse in a name (a folder may be shared).
_RESERVED_CHARS = re.compile(r'[<>:"|?*]')
# Names Windows gives to devices, whatever the extension.
_DEVICE_NAMES = frozenset({"con", "prn", "aux", "nul"} | {f"com{n}" for n in range(1, 10)}
                          | {f"lpt{n}" for n in range(1, 10)})
MAX_NAME_BYTES = 255  # the usual file system's limit on one name
FALLBACK = "download"


def safe_name(given, fallback=FALLBACK):
    """A base name that cannot leave a folder, hide itself or name a device;
    `fallback` (itself made safe) when nothing safe is left of `given`."""
    name = _base(given)
    if not name:
        name = _base(fallback) or FALLBACK
    return name


def _base(text):
    text = _CONTROL.sub("", text or "")
    text = text.replace("\\", "/").rsplit("/", 1)[-1]   # no folders, either separator
    text = _RESERVED_CHARS.sub("_", text)
    text = text.strip().lstrip(".").rstrip(". ")       # no hidden file, no "." or ".."
    if text.split(".", 1)[0].lower() in _DEVICE_NAMES:
        text = "_" + text
    return _cut(text)


def _cut(name):
    """At most MAX_NAME_BYTES bytes of UTF-8, the extension kept."""
    if len(name.encode()) <= MAX_NAME_BYTES:
        return name
    stem, dot, ending = name.rpartition(".")
    if not dot or len(ending) > 16:
        stem, ending = name, ""
    room = MAX_NAME_BYTES - len(ending.encode()) - len(dot if ending else "")
    stem = stem.encode()[:room].decode(errors="ignore")
    return stem + ("." + ending if ending else "")


# RFC 6266 / 5987: filename*=charset'language'percent-encoded, or filename="..."
_EXTENDED = re.compile(r"filename\*\s*=\s*([\w!#$%&+^`{}~-]+)'[^']*'([^;]+)", re.I)
_PLAIN = re.compile(r'filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]+))', re.I)


def disposition_name(header):
    """The file name a `Content-Disposition` header gives, as the server
    wrote it (not yet safe: see safe_name), or None."""
    header = header or ""
    extended = _EXTENDED.search(header)
    if extended:
        charset = extended.group(1).lower()
        try:
            return unquote(extended.group(2).strip(), encoding=charset, errors="replace")
        except LookupError:  # a charset Python does not know
            return unquote(extended.group(2).strip(), encoding="latin-1")
    plain = _PLAIN.search(header)
    if plain:
        quoted, bare = plain.groups()
        return re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare.strip()
    return None


def write_inside(folder, name, data):
    """Write `data` as `folder/name`; the path written.

    `name` must be a safe base name; the resolved target is checked to be
    right inside the resolved folder all the same. The bytes go to a new
    temporary file first, which then replaces the name: a symbolic link
    planted under that name is replaced, never followed.
    """
    folder = Path(os.path.realpath(folder))
    target = folder / name
    if name in ("", ".", "..") or target.parent != folder or os.path.isabs(name):
        raise ValueError(f"not a plain file name: {name!r}")
    temporary = folder / f".convertix-{secrets.token_hex(8)}.part"
    # O_EXCL: a new file of ours (mode as the umask says), never one planted there
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                         | getattr(os, "O_NOFOLLOW", 0), 0o666)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    return target
