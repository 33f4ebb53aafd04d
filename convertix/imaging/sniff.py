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

# (offset, prefix, format), first match wins. ICO before TGA: libmagic calls
# some icons TGA, and Pillow then fails reading them as TGA.
SIGNATURES = (
    (0, b"\x00\x00\x01\x00", "ico"),
    (0, b"\x00\x00\x02\x00", "cur"),
    (0, b"DDS ", "dds"),
    (0, b"\x01\xda", "sgi"),
    (0, b"\x59\xa6\x6a\x95", "sunras"),
    (0, b"qoif", "qoi"),
    (0, b"#define ", "xbm"),
    (0, b"/* XPM */", "xpm"),
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
    for offset, prefix, name in SIGNATURES:
        if head[offset:offset + len(prefix)] == prefix:
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
