"""The pixel operations, each on one RGB/RGBA frame, in pipeline order.

crop -> rotate -> flip/flop -> resize (geometry.plan) -> grayscale -> blur -> sharpen
"""
from PIL import Image, ImageColor, ImageFilter

from convertix.errors import ImageTooLarge, InvalidOptions

from . import geometry, vipsresize

# Clockwise degrees -> the exact transpose (PIL's ROTATE_n is counter-clockwise).
RIGHT_ANGLES = {
    90: Image.Transpose.ROTATE_270,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_90,
}

RESAMPLE = Image.Resampling.LANCZOS
# reduce() by whole factors first, then LANCZOS: as good to the eye, much faster.
REDUCING_GAP = 3.0


def colour(background, mode):
    """The background as a pixel value of `mode` (RGBA, RGB, LA or L)."""
    if mode in ("L", "LA"):
        grey = ImageColor.getcolor(background, "L")
        return (grey, ImageColor.getcolor(background, "RGBA")[3]) if mode == "LA" else grey
    rgba = ImageColor.getcolor(background, "RGBA")
    return rgba if mode == "RGBA" else rgba[:3]


def crop(im, box):
    if not box:
        return im
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    if x + w > im.width or y + h > im.height:
        raise InvalidOptions(
            f"crop {w}x{h}+{x}+{y} lies outside the {im.width}x{im.height} image",
            details={"field": "crop", "width": im.width, "height": im.height})
    return im.crop((x, y, x + w, y + h))


def rotate(im, degrees, background):
    degrees = degrees % 360
    if not degrees:
        return im
    if degrees in RIGHT_ANGLES:
        return im.transpose(RIGHT_ANGLES[degrees])
    return im.rotate(-degrees, resample=Image.Resampling.BICUBIC, expand=True,
                     fillcolor=colour(background, im.mode))


def mirror(im, flip, flop):
    if flip:
        im = im.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    if flop:
        im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return im


def scale(im, size):
    """LANCZOS to `size`: through libvips where it does exactly that
    (vipsresize.py: RGB or L, made smaller), else Pillow."""
    out = vipsresize.resize(im, size)
    return out if out is not None else im.resize(size, RESAMPLE, reducing_gap=REDUCING_GAP)


def resize(im, p, background):
    if p.resize != im.size:
        im = scale(im, p.resize)
    if p.crop:
        im = im.crop(p.crop)
    if p.canvas and p.canvas != im.size:
        canvas = Image.new(im.mode, p.canvas, colour(background, im.mode))
        canvas.paste(im, ((p.canvas[0] - im.width) // 2, (p.canvas[1] - im.height) // 2))
        im = canvas
    return im


def grayscale(im):
    """L, or LA with alpha: formats that hold grey (png, jpeg, tiff...) keep
    one channel; the encoder widens it for those that cannot (modes.py)."""
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        return im.convert("LA")
    return im.convert("L")


def plan(size, options):
    return geometry.plan(size[0], size[1], options.get("width"), options.get("height"),
                         options.get("fit") or "inside", options.get("enlarge"))


def apply(im, options, max_output_pixels):
    """All operations on one frame."""
    im = crop(im, options.get("crop"))
    degrees = options.get("rotate") or 0
    # Every size from here on is known before a pixel is allocated: the rotated
    # bounding box (an odd angle makes the image larger), the resize and the output.
    rotated = geometry.rotated_size(im.width, im.height, degrees)
    p = plan(rotated, options)
    w, h = geometry.output_size(p)
    for size in (rotated, p.resize, (w, h)):
        if size[0] * size[1] > max_output_pixels:
            raise ImageTooLarge(f"output of {size[0]}x{size[1]} is over the {max_output_pixels}-pixel limit",
                                details={"width": size[0], "height": size[1]})
    im = rotate(im, degrees, options["background"])
    im = mirror(im, options.get("flip"), options.get("flop"))
    im = resize(im, p, options["background"])
    if options.get("grayscale"):
        im = grayscale(im)
    if options.get("blur"):
        im = im.filter(ImageFilter.GaussianBlur(options["blur"]))
    if options.get("sharpen"):
        # sharpen is the strength in percent/ten: 1 -> 10 %, 100 -> 1000 %.
        im = im.filter(ImageFilter.UnsharpMask(radius=2, percent=int(options["sharpen"] * 10), threshold=2))
    return im


def draft_target(size, orientation_swaps, options):
    """The smallest decoded size the JPEG decoder may shrink to, or None.

    Only for right-angle rotation and no crop: crop coordinates are in
    full-size pixels, and other angles change the size in ways not worth
    predicting here.
    """
    degrees = (options.get("rotate") or 0) % 360
    if options.get("crop") or degrees not in (0, 90, 180, 270):
        return None
    if not options.get("width") and not options.get("height"):
        return None
    swap = orientation_swaps != (degrees in (90, 270))
    w, h = (size[1], size[0]) if swap else size
    rw, rh = plan((w, h), options).resize
    if rw >= w and rh >= h:
        return None
    # Ask for one pixel more than needed: the decoder must not go below the target.
    return (rh + 1, rw + 1) if swap else (rw + 1, rh + 1)
