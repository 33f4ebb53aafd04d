"""How close an output is to the best it could be: PSNR against a reference
made from the full-resolution decode (no draft) resized with LANCZOS to the
output's size. Pillow only (ImageChops/ImageStat), no numpy."""
import io
import math

from PIL import Image, ImageChops, ImageStat


def reference(source, size):
    """`source` (JPEG bytes) decoded at full size, LANCZOS-resized to `size`, RGB."""
    with Image.open(io.BytesIO(source)) as im:
        return im.convert("RGB").resize(size, Image.Resampling.LANCZOS)


def psnr(a, b):
    """PSNR in dB of two RGB images of one size (inf when equal)."""
    rms = ImageStat.Stat(ImageChops.difference(a, b)).rms
    mse = sum(r * r for r in rms) / len(rms)
    return math.inf if mse == 0 else 10 * math.log10(255 * 255 / mse)


_references = {}  # (id(source), size) -> (source, reference): `source` kept, its id() unique


def measure(source, output):
    """{"bytes", "size", "psnr_db"} of `output` against `source`'s reference."""
    with Image.open(io.BytesIO(output)) as im:
        got = im.convert("RGB")
    key = (id(source), got.size)
    if key not in _references:
        _references[key] = (source, reference(source, got.size))
    return {"bytes": len(output), "size": got.size, "psnr_db": psnr(got, _references[key][1])}


def describe(quality):
    return f"{quality['bytes'] / 1000:.1f} kB, {quality['psnr_db']:.2f} dB"
