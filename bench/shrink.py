"""Ways to take work A's 12 MP JPEG down to 1024x768: CPU per image, PSNR.

    python -m bench.shrink            # --repeat 7

Decode + resize only (the WebP encode after it is the same for all). Each
way's best CPU time (time.process_time, every thread of the process) over
`repeat` runs, and its PSNR against the full-resolution decode resized with
Pillow's LANCZOS. The ways:

  pillow-1/2    Pillow draft() to 1/2 (libjpeg-turbo's 4/8), Pillow LANCZOS:
                what thumbor does, and the engine did
  pillow-3/8    libjpeg-turbo's 3/8 scale through Pillow's decoder (scale
                denominator 3, which libjpeg-turbo rounds to 3/8; Pillow's
                draft() offers only 1/2, 1/4, 1/8, so this sets its decoder's
                private fields: a measurement, not for the engine)
  vips-resize   Pillow draft() to 1/2, then libvips' lanczos3 resize
                (convertix/imaging/vipsresize.py): the engine now
  3/8+vips      both of the above
  vips-shrink   libvips' JPEG shrink-on-load (2) and its lanczos3 resize
  vips-thumb    libvips' thumbnail (it decodes at full size for a 3.9x shrink)
  full          full decode and Pillow LANCZOS: the reference itself
"""
import argparse
import io
import sys
import time

from PIL import Image, ImageFile

from bench import quality
from bench.pipeline import photo_like
from bench.thumbor import WORKS
from convertix.imaging import vipsresize
from convertix.imaging.vipspng import load

TARGET = (1024, 768)


def pillow(data, scale=None):
    im = Image.open(io.BytesIO(data))
    if scale == "1/2":
        im.draft("RGB", (TARGET[0] + 1, TARGET[1] + 1))
    elif scale == "3/8":
        im.draft("RGB", None)  # sets up the decoder configuration once
        d, _e, o, a = im.tile[0]
        size = ((im.width * 3 + 7) // 8, (im.height * 3 + 7) // 8)
        im.tile = [ImageFile._Tile(d, (0, 0) + size, o, a)]
        im._size = size
        im.decoderconfig = (3, 0)
    im.load()
    return im


def lanczos(im):
    return im.resize(TARGET, Image.Resampling.LANCZOS)


def vips_shrink(data):
    pyvips = load()
    image = pyvips.Image.new_from_buffer(data, "", shrink=2)
    image = image.resize(TARGET[0] / image.width, vscale=TARGET[1] / image.height,
                         kernel="lanczos3")
    return Image.frombytes("RGB", TARGET, image.write_to_memory())


def vips_thumb(data):
    image = load().Image.thumbnail_buffer(data, TARGET[0], height=TARGET[1])
    return Image.frombytes("RGB", TARGET, image.write_to_memory())


WAYS = {
    "pillow-1/2": lambda d: lanczos(pillow(d, "1/2")),
    "pillow-3/8": lambda d: lanczos(pillow(d, "3/8")),
    "vips-resize": lambda d: vipsresize.resize(pillow(d, "1/2"), TARGET),
    "3/8+vips": lambda d: vipsresize.resize(pillow(d, "3/8"), TARGET),
    "vips-shrink": vips_shrink,
    "vips-thumb": vips_thumb,
    "full": lambda d: lanczos(pillow(d)),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    _, size, seed, _, _ = WORKS["A"]
    data = photo_like(size, seed)
    reference = quality.reference(data, TARGET)
    print("| way | CPU ms per image (best) | PSNR vs full-res LANCZOS |")
    print("|---|---|---|")
    for name, way in WAYS.items():
        out = way(data)
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.process_time()
            way(data)
            best = min(best, time.process_time() - t0)
        print(f"| {name} | {best * 1000:.1f} | {quality.psnr(out, reference):.2f} dB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
