"""The shipped ImageMagick policy, read as a file."""
import os
import xml.etree.ElementTree as ET

import convertix.imaging.magick as magick_pkg

POLICY = os.path.join(os.path.dirname(magick_pkg.__file__), "policy.xml")


def policies():
    return ET.parse(POLICY).getroot().findall("policy")


def test_no_time_resource_limit():
    # ImageMagick counts "time" from process start and then exits the whole
    # process: a sandbox alive for longer would die at its next ImageMagick
    # read (seen here with time=3: "time limit exceeded", exit 1).
    assert not [p for p in policies()
                if p.get("domain") == "resource" and p.get("name") == "time"]


def test_only_bmp_and_tiff_are_readable():
    readable = [p.get("pattern") for p in policies()
                if p.get("domain") == "coder" and "read" in (p.get("rights") or "")]
    assert readable == ["{BMP,TIFF}"]
    denied_last = [p for p in policies() if p.get("domain") == "coder"][-1]
    for name in ("MVG", "MSL", "TEXT", "URL", "LABEL", "EPHEMERAL", "SVG", "PDF", "PS"):
        assert name in denied_last.get("pattern") and denied_last.get("rights") == "none"
