"""convertix_cli/names.py: the name a downloaded file gets, and where it is written."""
import os

import pytest

from convertix_cli.names import MAX_NAME_BYTES, disposition_name, safe_name, write_inside


@pytest.mark.parametrize("given, fallback, kept", [
    ("photo.webp", "0.webp", "photo.webp"),
    ("café ☕.png", "0.png", "café ☕.png"),               # any language stays
    ("../../pwned.txt", "0.png", "pwned.txt"),            # no climbing
    ("/etc/passwd", "0.png", "passwd"),                   # no absolute path
    ("..\\..\\Windows\\win.ini", "0.png", "win.ini"),     # either separator
    ("C:\\Users\\x\\shot.png", "0.png", "shot.png"),
    ("a\x00b.png", "0.png", "ab.png"),                    # no NUL, no control characters
    ("line\nbreak\r.gif", "0.gif", "linebreak.gif"),
    ("evil\u202egnp.exe", "0.png", "evilgnp.exe"),        # no bidirectional override
    (".bashrc", "0.png", "bashrc"),                       # never a hidden file
    ("...", "0.png", "0.png"),
    ("..", "1.jpg", "1.jpg"),                             # nothing left: the fallback
    (".", "1.jpg", "1.jpg"),
    ("", "2.png", "2.png"),
    (None, "2.png", "2.png"),
    ("dir/", "3.png", "3.png"),
    ("   ", "3.png", "3.png"),
    ("name. ", "3.png", "name"),                          # Windows drops trailing dots
    ('a<b>c:d"e|f?g*h.png', "0.png", "a_b_c_d_e_f_g_h.png"),
    ("CON.png", "0.png", "_CON.png"),                     # a device name on Windows
    ("nul", "0.png", "_nul"),
    ("", "../../x.png", "x.png"),                          # the fallback is server text too
    ("", "..", "download"),                                # and when it is empty as well
])
def test_only_a_safe_base_name_is_kept(given, fallback, kept):
    assert safe_name(given, fallback) == kept


def test_long_names_are_cut_to_the_file_systems_limit_keeping_the_ending():
    name = safe_name("é" * 300 + ".webp")
    assert name.endswith(".webp") and len(name.encode()) <= MAX_NAME_BYTES
    assert len(safe_name("x" * 1000).encode()) == MAX_NAME_BYTES


@pytest.mark.parametrize("header, name", [
    ("attachment; filename=\"photo.webp\"", "photo.webp"),
    ("attachment; filename=photo.webp", "photo.webp"),
    ("attachment; filename=\"a \\\"b\\\".png\"", 'a "b".png'),
    ("attachment; filename*=UTF-8''caf%C3%A9.png", "café.png"),
    ("attachment; filename*=utf-8'en'..%2F..%2Fpwned.txt", "../../pwned.txt"),
    ("attachment; filename*=ISO-8859-1''caf%E9.png", "café.png"),
    ("attachment; filename=\"plain.png\"; filename*=UTF-8''star.png", "star.png"),  # RFC 6266
    ("attachment", None),
    ("", None),
    (None, None),
])
def test_the_disposition_name_is_read_as_sent(header, name):
    assert disposition_name(header) == name


def test_write_inside_replaces_a_planted_link_instead_of_following_it(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"mine")
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(victim, out / "result.png")
    write_inside(out, "result.png", b"new")
    assert victim.read_bytes() == b"mine"
    assert not os.path.islink(out / "result.png") and (out / "result.png").read_bytes() == b"new"
    assert sorted(os.listdir(out)) == ["result.png"]  # no temporary file left


@pytest.mark.parametrize("name", ["../x", "/tmp/x", "a/b", "", ".", ".."])
def test_write_inside_refuses_anything_but_a_base_name(tmp_path, name):
    with pytest.raises(ValueError):
        write_inside(tmp_path, name, b"x")
    assert os.listdir(tmp_path) == []
