"""PNG output through libvips (pyvips): the same pixels as Pillow's encoder,
about 3x faster here (libvips' zlib and its filter search), files a little
smaller with every row filter tried (filter="all").

Used by encode.py for what it can write exactly as the Pillow path would:
one frame, 8-bit L/LA/RGB/RGBA, no EXIF to keep (Pillow writes EXIF as its
own eXIf chunk; the options contract says when, so those stay with Pillow),
an ICC profile kept as iCCP. Nothing else of libvips' own metadata is
written (keep=ICC: no EXIF block of its making); it does add a pHYs chunk
(resolution), which carries nothing about the image's source.

Everything else, and any libvips error, goes to Pillow: `encode` returns None.
One libvips thread, like every codec in a sandbox child (one engine thread
per process, scaled by processes).
"""
COMPRESSION = 6   # zlib level, as the Pillow path's compress_level
# Pillow mode -> (bands, libvips interpretation)
MODES = {"L": (1, "b-w"), "LA": (2, "b-w"), "RGB": (3, "srgb"), "RGBA": (4, "srgb")}

_pyvips = None


def load():
    """pyvips, or None when it cannot load here (then Pillow writes PNG and
    resizes: vipsresize.py loads it through here too)."""
    global _pyvips
    if _pyvips is None:
        try:
            import pyvips
            pyvips.concurrency_set(1)
            pyvips.cache_set_max(0)  # one conversion per call: nothing to reuse
            _pyvips = pyvips
        except Exception:  # ImportError, or OSError when libvips is missing
            _pyvips = False
    return _pyvips or None


def available():
    """True when libvips loads and writes a PNG here. Also starts its worker
    thread, which a sandbox child must do before it limits its threads."""
    return load() is not None and encode_frame(_probe_frame(), None) is not None


def _probe_frame():
    from PIL import Image
    return Image.new("RGB", (4, 3), (200, 100, 50))


def encode_frame(frame, icc_profile):
    """PNG bytes of one Pillow image, or None when libvips cannot write it exactly."""
    pyvips = load()
    if pyvips is None or frame.mode not in MODES:
        return None
    bands, interpretation = MODES[frame.mode]
    try:
        image = pyvips.Image.new_from_memory(frame.tobytes(), frame.width, frame.height,
                                             bands, "uchar").copy(interpretation=interpretation)
        keep = pyvips.enums.ForeignKeep.NONE
        if icc_profile:
            image.set_type(pyvips.GValue.blob_type, "icc-profile-data", icc_profile)
            keep = pyvips.enums.ForeignKeep.ICC
        return image.pngsave_buffer(compression=COMPRESSION, filter="all", keep=keep)
    except pyvips.Error:
        return None


def encode(frames, kwargs):
    """encode.py's fast path for PNG: bytes, or None for the Pillow path."""
    if len(frames) != 1 or kwargs.get("exif") or kwargs.get("save_all"):
        return None
    return encode_frame(frames[0], kwargs.get("icc_profile"))
