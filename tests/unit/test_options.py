import pytest

from convertix.errors import InvalidOptions
from convertix.options import FIELDS, validate

OUTPUTS = {"jpeg", "png", "webp"}


def test_defaults_fill_every_field():
    result = validate({"format": "webp"}, OUTPUTS)
    assert set(result) == set(FIELDS)
    assert result["fit"] == "inside" and result["quality"] == 80
    assert result["auto_orient"] is True and result["strip_metadata"] is True


@pytest.mark.parametrize("alias, name", [("JPG", "jpeg"), ("jpg", "jpeg"), (" PNG ", "png")])
def test_format_aliases(alias, name):
    assert validate({"format": alias}, OUTPUTS)["format"] == name


@pytest.mark.parametrize("options, field", [
    ({}, "format"),
    ({"format": "avif"}, "format"),           # not written by this installation
    ({"format": "png", "colour": 1}, "colour"),  # unknown field
    ({"format": "png", "quality": 0}, "quality"),
    ({"format": "png", "quality": 101}, "quality"),
    ({"format": "png", "quality": "80"}, "quality"),
    ({"format": "png", "width": True}, "width"),
    ({"format": "png", "width": 0}, "width"),
    ({"format": "png", "height": 100000}, "height"),
    ({"format": "png", "fit": "stretch"}, "fit"),
    ({"format": "png", "enlarge": "yes"}, "enlarge"),
    ({"format": "png", "crop": {"x": 0, "y": 0, "width": 10}}, "crop"),
    ({"format": "png", "crop": {"x": -1, "y": 0, "width": 10, "height": 10}}, "crop"),
    ({"format": "png", "rotate": 720}, "rotate"),
    ({"format": "png", "blur": -1}, "blur"),
    ({"format": "png", "background": "white"}, "background"),
    ({"format": "png", "background": "#12345"}, "background"),
])
def test_invalid_options_name_the_field(options, field):
    with pytest.raises(InvalidOptions) as caught:
        validate(options, OUTPUTS)
    assert caught.value.details["field"] == field
    assert caught.value.code == "INVALID_OPTIONS"


def test_not_an_object():
    with pytest.raises(InvalidOptions):
        validate(["format", "png"], OUTPUTS)


def test_valid_values_pass_through():
    options = {"format": "jpeg", "quality": 55, "width": 100, "fit": "cover",
               "crop": {"x": 1, "y": 2, "width": 3, "height": 4}, "rotate": 90,
               "background": "#abc", "blur": 1.5}
    result = validate(options, OUTPUTS)
    for key, value in options.items():
        assert result[key] == value
