"""The output-size cap: an output over
Limits.output_cap fails its task with IMAGE_TOO_LARGE in the sandbox, before
a byte of it is sent to the parent or stored."""
import pytest

from convertix.errors import ConvertixError
from convertix.imaging import Limits
from convertix.imaging.limits import OUTPUT_SLACK_BYTES
from convertix.imaging.sandbox import Sandbox
from tests.attacks import solid_png


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(memory_mb=2048) as box:
        box.start()
        yield box


def test_solid_png_to_bmp_is_too_large(sandbox):
    # 118 KB in, 300 MB out (the review saw output.bytes = 300000054)
    with pytest.raises(ConvertixError) as exc:
        sandbox.convert(solid_png(10000, 10000), {"format": "bmp"}, Limits(), timeout_s=120)
    assert exc.value.code == "IMAGE_TOO_LARGE"
    assert exc.value.details["bytes"] > exc.value.details["max_bytes"] == Limits().max_output_bytes


def test_bytes_per_pixel_cap(sandbox):
    # 2000x2000 to BMP: 12 MB, 3 bytes a pixel; allowed 1 a pixel (+ slack) it fails
    data = solid_png(2000, 2000)
    limits = Limits(max_output_bytes_per_pixel=1)
    with pytest.raises(ConvertixError) as exc:
        sandbox.convert(data, {"format": "bmp"}, limits, timeout_s=60)
    assert exc.value.code == "IMAGE_TOO_LARGE"
    assert exc.value.details["max_bytes"] == 4_000_000 + OUTPUT_SLACK_BYTES
    out = sandbox.convert(data, {"format": "bmp"}, Limits(), timeout_s=60)
    assert len(out.data) == 12_000_054


def test_cap_takes_the_larger_of_input_and_output_pixels():
    limits = Limits(max_output_bytes=10**9, max_output_bytes_per_pixel=4)
    assert limits.output_cap(100, 10_000) == 40_000 + OUTPUT_SLACK_BYTES  # upscaled
    assert limits.output_cap(10_000, 100) == 40_000 + OUTPUT_SLACK_BYTES  # thumbnail
    assert Limits(max_output_bytes=5).output_cap(10**6, 10**6) == 5
