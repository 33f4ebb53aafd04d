"""convert(): one image in, one image out.

Pipeline, in this order:
  1. bound the input bytes (FILE_TOO_LARGE), sniff the format from the bytes
  2. refuse formats we never decode (EPS/PS/PDF/XPS/WMF/EMF/MVG/MSL)
  3. decode (decode.py): header size/frames checked before pixels; JPEG
     shrink-on-load with draft() to the smallest scale still >= the target
  4. auto_orient (EXIF or XMP orientation; TIFF/HEIF are upright after decoding)
  5. crop -> rotate (clockwise, expanded, background fill) -> flip/flop
  6. resize per fit (geometry.py), bounded by max_output_pixels
  7. grayscale -> blur -> sharpen
  8. encode (encode.py): per-format mode, alpha flattening, quality, metadata
"""
from dataclasses import asdict, dataclass

from convertix.errors import ConvertixError, CorruptImage, FileTooLarge, ImageTooLarge, UnsupportedFormat

from . import decode, encode, operations, orientation
from .capabilities import capabilities
from .formats import REFUSED, mime_type
from .limits import Limits
from .plugins import register
from .sniff import sniff


@dataclass
class InputInfo:
    format: str
    width: int
    height: int
    frames: int
    bytes: int

    def to_dict(self):
        return asdict(self)


@dataclass
class Converted:
    data: bytes
    format: str
    mime: str
    width: int
    height: int
    frames: int
    input: InputInfo

    def to_dict(self):
        """Everything but the bytes (those travel separately)."""
        d = {k: v for k, v in asdict(self).items() if k != "data"}
        d["input"] = self.input.to_dict()
        return d


def _check_input(data, limits):
    if len(data) > limits.max_input_bytes:
        raise FileTooLarge(f"input is {len(data)} bytes, over the {limits.max_input_bytes}-byte limit",
                           details={"bytes": len(data), "limit": limits.max_input_bytes})
    fmt = sniff(data)
    if fmt is None:
        raise UnsupportedFormat("the file is not an image format this service recognises")
    if fmt in REFUSED or fmt not in capabilities()["input"]:
        raise UnsupportedFormat(f"{fmt} input is not supported", details={"format": fmt})
    return fmt


def _no_report(stage):
    pass


def convert(data, options, limits=Limits(), on_stage=_no_report):
    """Convert `data` per the validated `options`; raise only ConvertixErrors.

    `on_stage(name)` is told when decoding is done ("transform") and when
    the operations are done ("encode"): the task's progress.
    """
    register()
    data = bytes(data)
    fmt = _check_input(data, limits)
    try:
        dec = decode.decode(data, fmt, options, limits, draft_target=_make_draft(data, fmt, options))
        on_stage("transform")
        frames = [operations.apply(f, options, limits.max_output_pixels) for f in dec.frames]
        on_stage("encode")
        out, n_out, size = encode.encode(frames, dec.durations, dec.loop, options, dec.meta)
    except ConvertixError:
        raise
    except MemoryError as exc:
        raise ImageTooLarge("not enough memory to convert this image") from exc
    except Exception as exc:
        raise CorruptImage(f"cannot convert this {fmt} image: {type(exc).__name__}: {exc}") from exc
    return Converted(out, options["format"], mime_type(options["format"]), size[0], size[1], n_out,
                     InputInfo(fmt, dec.width, dec.height, dec.n_frames, len(data)))


def _make_draft(data, fmt, options):
    """A draft-size function for JPEG input, knowing whether EXIF swaps the sides."""
    if fmt != "jpeg":
        return None
    swaps = False
    if options.get("auto_orient", True):
        import io

        from PIL import Image
        try:
            with Image.open(io.BytesIO(data), formats=["JPEG"]) as im:
                swaps = orientation.read(im) in orientation.SWAPS_SIDES
        except Exception:
            return None  # decode() will report the problem
    return lambda size: operations.draft_target(size, swaps, options)
