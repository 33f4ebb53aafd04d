"""Shared helpers for the imaging unit tests."""
import csv
import io
import os

import pytest
from PIL import Image

CORPUS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "corpus")


def corpus_rows():
    with open(os.path.join(CORPUS, "MANIFEST.tsv"), newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def corpus_bytes(path):
    with open(os.path.join(CORPUS, path), "rb") as f:
        return f.read()


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
