"""How close an output is to the best it could be: PSNR and SSIM against a
reference made from the full-resolution decode (no draft) resized with
LANCZOS to the output's size. No numpy: PSNR with Pillow (ImageChops,
ImageStat), SSIM with libvips (pyvips, which the engine already uses)."""
import io
import math

import pyvips
from PIL import Image, ImageChops, ImageStat

# SSIM's constants (Wang et al. 2004): K1 = 0.01, K2 = 0.03, L = 255, a
# Gaussian window of sigma 1.5; on luma, as most tools report it.
SSIM_C1, SSIM_C2, SSIM_SIGMA = (0.01 * 255) ** 2, (0.03 * 255) ** 2, 1.5


def reference(source, size):
    """`source` (JPEG bytes) decoded at full size, LANCZOS-resized to `size`, RGB."""
    with Image.open(io.BytesIO(source)) as im:
        return im.convert("RGB").resize(size, Image.Resampling.LANCZOS)


def psnr(a, b):
    """PSNR in dB of two RGB images of one size (inf when equal)."""
    rms = ImageStat.Stat(ImageChops.difference(a, b)).rms
    mse = sum(r * r for r in rms) / len(rms)
    return math.inf if mse == 0 else 10 * math.log10(255 * 255 / mse)


def _luma(image):
    grey = image.convert("L")
    return pyvips.Image.new_from_memory(grey.tobytes(), grey.width, grey.height, 1,
                                        "uchar").cast("double")


def ssim(a, b):
    """Mean SSIM of two RGB images of one size, on their luma (1.0 when equal)."""
    x, y = _luma(a), _luma(b)

    def blur(image):  # the local mean under the Gaussian window
        return image.gaussblur(SSIM_SIGMA, min_ampl=0.01, precision="float")
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    index = ((2 * mx * my + SSIM_C1) * (2 * cxy + SSIM_C2)
             / ((mx * mx + my * my + SSIM_C1) * (vx + vy + SSIM_C2)))
    return index.avg()


_references = {}  # (id(source), size) -> (source, reference): `source` kept, its id() unique


def measure(source, output):
    """{"bytes", "size", "psnr_db", "ssim"} of `output` against `source`'s reference."""
    with Image.open(io.BytesIO(output)) as im:
        got = im.convert("RGB")
    key = (id(source), got.size)
    if key not in _references:
        _references[key] = (source, reference(source, got.size))
    ref = _references[key][1]
    return {"bytes": len(output), "size": got.size, "psnr_db": psnr(got, ref),
            "ssim": ssim(got, ref)}


def describe(quality):
    return (f"{quality['bytes'] / 1000:.1f} kB, {quality['psnr_db']:.2f} dB, "
            f"SSIM {quality['ssim']:.4f}")
