"""Prove that the ImageMagick policy in force refuses dangerous coders.

The probe runs in a child process: with a permissive policy, IM 6 reading
`text:` of some files has aborted the whole Python process on Debian, and a
worker must not die while checking its own safety. The child tries `text:` and
`msl:` reads of a harmless temporary file and reports what happened.
"""
import json
import os
import subprocess
import sys
import tempfile

from .. import probecache

# Coder prefixes that must be refused by the policy.
MUST_BLOCK = ("text", "msl")

_PROBE = r"""
import json, sys
from convertix.imaging.magick import wand
image_mod, _, _ = wand()
path = sys.argv[1]
result = {}
for coder in sys.argv[2:]:
    try:
        with image_mod.Image(filename=coder + ":" + path):
            result[coder] = "read"
    except Exception as exc:
        result[coder] = type(exc).__name__ + ": " + str(exc)[:200]
print(json.dumps(result))
"""

_MSL = b'<?xml version="1.0" encoding="UTF-8"?>\n<image><read filename="xc:white"/></image>\n'


def probe(timeout_s=30):
    """{coder: "read" | "<exception>"} from a child process, or raise RuntimeError."""
    with tempfile.TemporaryDirectory(prefix="convertix-probe-") as tmp:
        path = os.path.join(tmp, "probe.xml")
        with open(path, "wb") as f:
            f.write(_MSL)
        env = dict(os.environ)
        env.pop("MAGICK_CONFIGURE_PATH", None)  # the child sets ours itself
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        proc = subprocess.run(
            [sys.executable, "-c", _PROBE, path, *MUST_BLOCK],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"ImageMagick policy probe died with status {proc.returncode}: "
                           f"{proc.stderr.decode(errors='replace')[-500:]}")
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])


def check_policy():
    """Raise RuntimeError unless the effective policy blocks text: and msl: reads.

    The probe's answer is remembered per installation (probecache.py: the
    same libraries, policy.xml, code and MAGICK_* environment give the same
    answer), so only the first process to start pays for its child."""
    result = probecache.remembered("magick-policy", probe)
    allowed = [c for c in MUST_BLOCK if result.get(c) == "read"
               or "policy" not in result.get(c, "").lower()]
    if allowed:
        raise RuntimeError(f"ImageMagick policy does not block {', '.join(allowed)}: {result}")
