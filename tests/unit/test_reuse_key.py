"""The key under which a task's result is reused (services/jobs/reuse.py)."""
import hashlib
import json

from convertix.options import validate
from services.jobs.reuse import canonical_options, reuse_key

SHA = hashlib.sha256(b"an image").hexdigest()
OTHER_SHA = hashlib.sha256(b"another image").hexdigest()
FORMATS = {"png", "jpeg", "webp"}


def test_defaults_and_aliases_give_the_same_canonical_text():
    short = canonical_options({"format": "jpg", "width": 200})
    spelled = canonical_options(validate({"format": "JPEG", "width": 200, "quality": 80,
                                          "fit": "inside", "rotate": 0.0}, FORMATS))
    assert short == spelled
    assert json.loads(short)["format"] == "jpeg" and json.loads(short)["quality"] == 80


def test_canonical_text_sorts_keys_and_spells_values_one_way():
    one = canonical_options({"width": 100, "format": "png", "background": "#FFAA00",
                             "crop": {"y": 1, "x": 2, "width": 3, "height": 4}, "blur": 2.0})
    other = canonical_options({"format": "png", "blur": 2, "background": "#ffaa00",
                               "crop": {"x": 2, "y": 1, "height": 4, "width": 3}, "width": 100})
    assert one == other
    assert list(json.loads(one)) == sorted(json.loads(one))


def test_different_options_give_different_keys():
    base = {"format": "webp", "width": 1024}
    keys = {reuse_key("u1", SHA, options) for options in (
        base, {**base, "quality": 81}, {**base, "width": 1023}, {**base, "format": "png"},
        {**base, "grayscale": True}, {**base, "blur": 0.5})}
    assert len(keys) == 6


def test_the_key_is_per_user_and_per_input():
    options = {"format": "png"}
    assert reuse_key("u1", SHA, options) == reuse_key("u1", SHA, {"format": "png", "flip": False})
    assert reuse_key("u1", SHA, options) != reuse_key("u2", SHA, options)
    assert reuse_key("u1", SHA, options) != reuse_key("u1", OTHER_SHA, options)


def test_no_key_without_a_well_formed_hash():
    for bad in (None, "", "abc", SHA.upper(), SHA + "0", 42):
        assert reuse_key("u1", bad, {"format": "png"}) is None
