"""Shared helpers for the imaging unit tests."""
import io

import pytest
from PIL import Image

from tests.helpers import corpus_bytes, corpus_rows  # noqa: F401  (re-exported)


def photo(size=(320, 240), mode="RGB"):
    """A photo-like image: smooth gradients plus some detail, deterministic."""
    w, h = size
    r = Image.linear_gradient("L").resize(size)
    g = Image.linear_gradient("L").rotate(90).resize(size)
    b = Image.radial_gradient("L").resize(size)
    im = Image.merge("RGB", (r, g, b))
    if mode == "RGBA":
        a = Image.linear_gradient("L").rotate(45).resize(size)
        im = Image.merge("RGBA", (r, g, b, a))
    return im


def encoded(im, fmt="PNG", **kw):
    out = io.BytesIO()
    im.save(out, format=fmt, **kw)
    return out.getvalue()


def decode(data):
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


@pytest.fixture(scope="session")
def caps():
    from convertix.imaging import capabilities
    return capabilities()


@pytest.fixture(scope="session")
def opts(caps):
    """opts(format=..., **more) -> validated options."""
    from convertix.options import validate

    def make(**kw):
        return validate(kw, caps["output"])
    return make
