"""What the shared corpus (tests/corpus/MANIFEST.tsv) expects of Convertix,
used by the pure tests (tests/unit) and the pipeline tests (tests/integration).
"""
import io

from PIL import Image, ImageOps

from convertix.imaging import capabilities, magick, plugins, sniff
from tests.helpers import corpus_bytes, corpus_rows

ROWS = corpus_rows()
# Manifest format names that we read under another name.
ALIASES = {"apng": "png", "mpo": "jpeg", "svgz": "svg", "cur": "cur"}
# Valid SVGs our sanitiser refuses by design: an internal DTD subset with entities.
SANITISER_REFUSES = {"valid/svg/coords-viewattr-01-b.svg"}
# Valid files that only ImageMagick reads (corpus README).
MAGICK_ONLY = {"valid/tiff/hopper_webp.tif": "TIFF", "valid/bmp/bmpsuite/g-rgb32bf.bmp": "BMP"}
# Bad files whose damage lies where convert() never reads: psd-oob-write.psd
# has a broken layer, and we decode only the composite image.
DAMAGE_NOT_READ = {"bad/fuzz/psd-oob-write.psd"}


def readable(row):
    fmt = ALIASES.get(row["format"], row["format"])
    return (fmt in capabilities()["input"] and not row["verification"].startswith("FAIL")
            and row["path"] not in SANITISER_REFUSES)


VALID = [r["path"] for r in ROWS if r["expectation"] == "valid" and readable(r)]
UNREADABLE = [r["path"] for r in ROWS if r["expectation"] == "valid" and not readable(r)]
ORIENTED = [(r["path"], int(r["expectation"].split()[1])) for r in ROWS
            if r["expectation"].startswith("orientation")]
BAD = [r for r in ROWS if r["expectation"] in ("corrupt", "bomb", "malicious")]


def may_succeed(row):
    """LENIENT rows (see the corpus README) decode anyway; so does DAMAGE_NOT_READ."""
    return row["verification"].startswith("LENIENT") or row["path"] in DAMAGE_NOT_READ


def expected_size(path):
    """The upright size, computed independently of convertix's decode path."""
    data = corpus_bytes(path)
    if path in MAGICK_ONLY:
        return magick.read(data, MAGICK_ONLY[path]).size
    if sniff(data) == "svg":  # CairoSVG straight on the file, no sanitiser
        import cairosvg
        png = cairosvg.svg2png(bytestring=data, unsafe=False)
        return Image.open(io.BytesIO(png)).size
    plugins.register()
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return ImageOps.exif_transpose(im).size
