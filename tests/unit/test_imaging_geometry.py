"""Resize arithmetic (geometry.plan): exact output sizes per fit and enlarge."""
import pytest
from PIL import Image

from convertix.imaging import geometry

# (input size, width, height, fit, enlarge) -> output size
CASES = [
    ((400, 200), 100, 100, "inside", False, (100, 50)),
    ((400, 200), 100, 100, "contain", False, (100, 100)),
    ((400, 200), 100, 100, "cover", False, (100, 100)),
    ((400, 200), 100, 100, "fill", False, (100, 100)),
    ((400, 200), 100, 100, "outside", False, (200, 100)),
    ((400, 200), 100, None, "inside", False, (100, 50)),
    ((400, 200), None, 50, "cover", False, (100, 50)),
    ((400, 200), 800, None, "inside", False, (400, 200)),
    ((400, 200), 800, None, "inside", True, (800, 400)),
    ((400, 200), 1000, 1000, "inside", False, (400, 200)),
    ((400, 200), 1000, 1000, "inside", True, (1000, 500)),
    ((400, 200), 1000, 1000, "outside", True, (2000, 1000)),
    # contain without enlarging: not upscaled, but still padded to the box
    ((400, 200), 1000, 1000, "contain", False, (1000, 1000)),
    # cover without enlarging: cropped to at most the box, never upscaled
    ((400, 200), 1000, 100, "cover", False, (400, 100)),
    ((400, 200), 1000, 1000, "cover", True, (1000, 1000)),
    ((400, 200), 1000, 100, "fill", False, (400, 100)),
    ((400, 200), 1000, 100, "fill", True, (1000, 100)),
    ((3, 1000), 100, 100, "inside", False, (1, 100)),
]


@pytest.mark.parametrize("size,width,height,fit,enlarge,expected", CASES)
def test_output_size(size, width, height, fit, enlarge, expected):
    p = geometry.plan(size[0], size[1], width, height, fit, enlarge)
    assert geometry.output_size(p) == expected


def test_no_box_keeps_size():
    assert geometry.output_size(geometry.plan(10, 20)) == (10, 20)


@pytest.mark.parametrize("size", [(320, 240), (1, 1), (7, 3), (1000, 1), (333, 777)])
@pytest.mark.parametrize("degrees", [1, 30, 45, 89.5, 90, 135, 180, 181, 270, 300, 359, -45, 12.345])
def test_rotated_size_is_pillows(size, degrees):
    assert geometry.rotated_size(*size, degrees) == Image.new("L", size).rotate(-degrees, expand=True).size
