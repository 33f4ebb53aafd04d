"""Format detection from the bytes only (never from a file name).

libmagic answers first; where its answer is weak (octet-stream, plain text,
TGA, which has no magic number and swallows some ICO files) a short table of
signatures decides. SVGZ is recognised by gunzipping a bounded prefix.
"""
import zlib

import magic

from .formats import MIME_TO_FORMAT

# libmagic looks at the start of a file; more is slower and tells nothing new.
SNIFF_BYTES = 64 * 1024
# How much of a gzip stream we inflate to look for an <svg> start.
GUNZIP_PEEK = 16 * 1024

# libmagic answers that a signature table may overrule.
WEAK_MIMES = frozenset({
    "application/octet-stream", "application/x-empty", "text/plain",
    "image/x-tga", "text/xml", "application/xml", "text/html",
    "application/gzip", "application/x-gzip",
})



def _icon_directory(head):
    """An ICO/CUR directory: at least one entry, a zero reserved byte in the
    first, and image data after the directory. An uncompressed truecolour TGA
    also starts 00 00 02 00 (no ID, no colour map, type 2), but its colour
    map fields, where the icon count would be, are zero."""
    count = int.from_bytes(head[4:6], "little")
    offset = int.from_bytes(head[18:22], "little")
    return count >= 1 and len(head) >= 22 and head[9] == 0 and offset >= 6 + 16 * count


# (offset, prefix, extra check or None, format), first match wins. ICO before
# TGA: libmagic calls some icons TGA, and Pillow then fails reading them as TGA.
SIGNATURES = (
    (0, b"\x00\x00\x01\x00", _icon_directory, "ico"),
    (0, b"\x00\x00\x02\x00", _icon_directory, "cur"),
    (0, b"DDS ", None, "dds"),
    (0, b"\x01\xda", None, "sgi"),
    (0, b"\x59\xa6\x6a\x95", None, "sunras"),
    (0, b"qoif", None, "qoi"),
    (0, b"#define ", None, "xbm"),
    (0, b"/* XPM */", None, "xpm"),
)


def _looks_like_svg(head):
    text = head[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return (text.startswith(b"<") and b"<svg" in text) or text.startswith(b"<svg")


def gunzip_prefix(data, limit=GUNZIP_PEEK):
    """At most `limit` bytes of a gzip stream's content, b'' if it is not gzip."""
    try:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        return d.decompress(data[:limit * 4], limit)
    except zlib.error:
        return b""


def _from_signatures(head):
    for offset, prefix, check, name in SIGNATURES:
        if head[offset:offset + len(prefix)] == prefix and (check is None or check(head)):
            return name
    if _looks_like_svg(head):
        return "svg"
    if head[:2] == b"\x1f\x8b" and _looks_like_svg(gunzip_prefix(head)):
        return "svg"
    return None


def sniff(data):
    """The format name of `data` (lower case), or None when unknown."""
    if not data:
        return None
    head = bytes(data[:SNIFF_BYTES])
    mime = magic.from_buffer(head, mime=True)
    if mime in WEAK_MIMES:
        found = _from_signatures(head)
        if found:
            return found
    return MIME_TO_FORMAT.get(mime)
