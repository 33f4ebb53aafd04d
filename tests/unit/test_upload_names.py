"""clean_filename: what an upload's file name becomes before it is stored or shown."""
import pytest

from gateway.uploads import MAX_FILENAME, clean_filename


@pytest.mark.parametrize("given, kept", [
    ("photo.jpg", "photo.jpg"),
    ("a\x00b.png", "ab.png"),                      # a NUL never reaches the database
    ("line\nbreak\r.gif", "linebreak.gif"),
    ("../../etc/passwd", "passwd"),                # no folders, either separator
    ("C:\\Users\\x\\shot.png", "shot.png"),
    ("evil\u202egnp.exe", "evilgnp.exe"),          # no bidirectional overrides
    ("  spaced.webp  ", "spaced.webp"),
    ("", "image"),
    (None, "image"),
    ("dir/", "image"),
    ("\x00\x01\x02", "image"),
])
def test_names_are_printable_and_folder_free(given, kept):
    assert clean_filename(given) == kept


def test_long_names_are_cut():
    assert clean_filename("x" * 1000 + ".png") == "x" * MAX_FILENAME
