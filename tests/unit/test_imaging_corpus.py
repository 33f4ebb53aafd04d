"""The third-party corpus (tests/corpus/MANIFEST.tsv) through convert(), in process.

Bad files (corrupt, bombs, malicious) are run through the Sandbox instead, in
test_imaging_sandbox.py: some of them crash real decoders.
"""
import io

import pytest
from PIL import Image, ImageChops, ImageStat

from convertix.errors import CorruptImage, UnsupportedFormat
from convertix.imaging import convert
from tests.corpus_cases import ORIENTED, UNREADABLE, VALID, expected_size

from .conftest import corpus_bytes, decode


@pytest.mark.parametrize("path", VALID)
def test_valid_converts(opts, path):
    data = corpus_bytes(path)
    size = expected_size(path)
    for fmt in ("png", "jpeg", "webp"):
        out = convert(data, opts(format=fmt, animated=False))
        assert decode(out.data).size == size, fmt


@pytest.mark.parametrize("path", UNREADABLE)
def test_unreadable_refused_cleanly(opts, path):
    with pytest.raises((UnsupportedFormat, CorruptImage)):
        convert(corpus_bytes(path), opts(format="png"))


def _mean_diff(a, b):
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB"))
    return sum(ImageStat.Stat(diff).mean) / 3


@pytest.mark.parametrize("path,n", ORIENTED)
def test_orientation_upright(opts, path, n):
    data = corpus_bytes(path)
    got = decode(convert(data, opts(format="png")).data)
    with Image.open(io.BytesIO(data)) as raw:
        raw.load()
        stored = raw.size
    if "exif-orientation-examples" in path:
        ref_path = path.rsplit("_", 1)[0] + "_1.jpg"
        ref = decode(convert(corpus_bytes(ref_path), opts(format="png")).data)
        assert got.size == ref.size
        assert _mean_diff(got, ref) < 8, path
    elif path.endswith(".tif"):
        # Pillow applies TIFF orientation during load(): stored size is already upright.
        assert got.size == stored
    else:
        swapped = n in (5, 6, 7, 8)
        assert got.size == ((stored[1], stored[0]) if swapped else stored)


def test_orientation_pixels_hopper(opts):
    # hopper_orientation_N.jpg all show the same upright picture.
    ref = decode(convert(corpus_bytes("orientation/jpeg/hopper_orientation_2.jpg"), opts(format="png")).data)
    for n in range(3, 9):
        got = decode(convert(corpus_bytes(f"orientation/jpeg/hopper_orientation_{n}.jpg"),
                             opts(format="png")).data)
        assert got.size == ref.size and _mean_diff(got, ref) < 10, n
