"""The benches' quality measures (bench/quality.py): SSIM and PSNR of an
output against its reference behave as the measures should."""
import io

import pytest
from PIL import Image, ImageFilter

from bench import quality
from bench.pipeline import photo_like


@pytest.fixture(scope="module")
def reference():
    with Image.open(io.BytesIO(photo_like((640, 360), 3))) as im:
        return im.convert("RGB").resize((256, 144), Image.Resampling.LANCZOS)


def jpeg(image, q):
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=q)
    with Image.open(io.BytesIO(buffer.getvalue())) as im:
        return im.convert("RGB")


def test_an_image_against_itself_is_perfect(reference):
    assert quality.ssim(reference, reference) == pytest.approx(1.0)
    assert quality.psnr(reference, reference) == float("inf")


def test_both_fall_as_the_jpeg_quality_falls(reference):
    scores = [(quality.ssim(jpeg(reference, q), reference),
               quality.psnr(jpeg(reference, q), reference)) for q in (95, 75, 30, 5)]
    for better, worse in zip(scores, scores[1:]):
        assert better[0] > worse[0] and better[1] > worse[1], scores
    assert 0 < scores[-1][0] < scores[0][0] < 1


def test_ssim_sees_a_blur_that_keeps_the_mean(reference):
    blurred = reference.filter(ImageFilter.GaussianBlur(2))
    assert quality.ssim(blurred, reference) < quality.ssim(jpeg(reference, 95), reference)
