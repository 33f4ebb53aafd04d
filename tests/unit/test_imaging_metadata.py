"""strip_metadata: what each encoder may write, read back from the output.

The sources carry EXIF (with a GPS IFD), XMP, IPTC, Photoshop resources and
a JPEG comment, each holding a marker string; with strip_metadata=true only
the ICC profile may survive, whether or not an operation touched the pixels.
"""
import io

import pytest
from PIL import Image, ImageCms

from convertix.imaging import convert

from .conftest import encoded, photo

SECRET = b"Convertix-secret"
XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
       b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
       b'xmlns:dc="http://purl.org/dc/elements/1.1/" dc:creator="' + SECRET + b'"/>'
       b'</rdf:RDF></x:xmpmeta>')
ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()

TIFF_XMP, TIFF_IPTC, TIFF_PHOTOSHOP = 700, 33723, 34377
MAKE, GPS_IFD = 0x010F, 0x8825
PRIVATE_TIFF_TAGS = (TIFF_XMP, TIFF_IPTC, TIFF_PHOTOSHOP, MAKE, GPS_IFD, 0x8769)


def _exif():
    exif = Image.Exif()
    exif[MAKE] = SECRET.decode()
    gps = exif.get_ifd(GPS_IFD)
    gps[1] = "N"
    gps[2] = (52.0, 22.0, 1.0)
    return exif


def _tiff_source():
    # TIFF keeps everything in its IFD0: EXIF (with the GPS IFD) and the other blocks as tags.
    tags = _exif()
    tags[TIFF_XMP], tags[TIFF_IPTC], tags[TIFF_PHOTOSHOP] = XMP, SECRET, SECRET
    return encoded(photo((64, 48)), "TIFF", exif=tags, icc_profile=ICC)


def _jpeg_source():
    return encoded(photo((64, 48)), "JPEG", exif=_exif(), xmp=XMP, icc_profile=ICC,
                   comment=SECRET)


SOURCES = {"tiff": _tiff_source, "jpeg": _jpeg_source}
OUTPUTS = ["heic", "tiff", "jpeg", "png", "webp"]


def _read(data):
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


@pytest.mark.parametrize("operation", [{}, {"width": 32}], ids=["untouched", "resized"])
@pytest.mark.parametrize("source", sorted(SOURCES))
@pytest.mark.parametrize("fmt", OUTPUTS)
def test_strip_metadata_keeps_only_icc(opts, fmt, source, operation):
    out = convert(SOURCES[source](), opts(format=fmt, strip_metadata=True, **operation))
    got = _read(out.data)
    assert got.size == ((32, 24) if operation else (64, 48))
    assert got.info.get("icc_profile") == ICC
    exif = got.getexif()
    assert MAKE not in exif and GPS_IFD not in exif
    assert not any(got.info.get(k) for k in ("xmp", "XML:com.adobe.xmp", "comment", "exif"))
    if fmt == "tiff":
        assert not set(PRIVATE_TIFF_TAGS) & set(got.tag_v2)
    assert SECRET not in out.data


# libtiff cannot write an EXIF block holding a GPS IFD pointer ("Error setting
# from dictionary"): JPEG+GPS -> TIFF with strip_metadata=false fails today.
@pytest.mark.parametrize("fmt", OUTPUTS)
def test_keep_metadata_writes_exif_but_never_xmp(opts, fmt):
    out = convert(_jpeg_source(), opts(format=fmt, strip_metadata=False))
    got = _read(out.data)
    exif = got.getexif()
    assert exif.get(MAKE) == SECRET.decode()
    assert exif.get_ifd(GPS_IFD).get(1) == "N"
    assert got.info.get("icc_profile") == ICC
    assert not any(got.info.get(k) for k in ("xmp", "XML:com.adobe.xmp"))
    if fmt == "tiff":
        assert TIFF_XMP not in got.tag_v2


# A profile whose header says GRAY: the encoder reads only the colour space field.
GRAY_ICC = ICC[:16] + b"GRAY" + ICC[20:]
# Output format -> the mode written for grayscale=true from an RGB, and an RGBA, source.
GRAY_MODES = {"jpeg": ("L", "L"), "png": ("L", "LA"), "tiff": ("L", "LA"), "heic": ("L", "RGBA"),
              "webp": ("RGB", "RGBA")}


@pytest.mark.parametrize("alpha", [False, True], ids=["rgb", "rgba"])
@pytest.mark.parametrize("fmt", sorted(GRAY_MODES))
def test_grayscale_drops_an_rgb_profile(opts, fmt, alpha):
    src = encoded(photo((64, 48), "RGBA" if alpha else "RGB"), "PNG", icc_profile=ICC)
    got = _read(convert(src, opts(format=fmt, grayscale=True)).data)
    assert (got.mode, got.size) == (GRAY_MODES[fmt][alpha], (64, 48))
    assert "icc_profile" not in got.info


@pytest.mark.parametrize("grayscale,mode,icc", [(True, "L", GRAY_ICC), (False, "RGB", None)])
def test_gray_profile_only_on_gray_output(opts, grayscale, mode, icc):
    src = encoded(photo((64, 48)).convert("L"), "PNG", icc_profile=GRAY_ICC)
    got = _read(convert(src, opts(format="png", grayscale=grayscale)).data)
    assert (got.mode, got.size) == (mode, (64, 48))
    assert got.info.get("icc_profile") == icc


@pytest.mark.parametrize("strip,compression", [(False, "raw"), (True, "tiff_adobe_deflate")])
def test_tiff_keeping_a_gps_ifd_is_written_uncompressed(opts, strip, compression):
    # libtiff cannot write the nested GPS IFD; Pillow's own (uncompressed) writer can
    got = _read(convert(_jpeg_source(), opts(format="tiff", strip_metadata=strip)).data)
    assert (got.mode, got.size) == ("RGB", (64, 48))
    assert got.info["compression"] == compression
