"""Format tables: the one place that names formats, their MIME types and file endings,
and which decoder (Pillow plugin list, or an ImageMagick coder) may read each."""

# libmagic MIME type -> our format name.
MIME_TO_FORMAT = {
    "image/jpeg": "jpeg",
    "image/png": "png",
    "image/apng": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/avif": "avif",
    "image/heic": "heic",
    "image/heif": "heic",
    "image/heic-sequence": "heic",
    "image/heif-sequence": "heic",
    "image/tiff": "tiff",
    "image/bmp": "bmp",
    "image/x-ms-bmp": "bmp",
    "image/vnd.microsoft.icon": "ico",
    "image/x-icon": "ico",
    "image/x-win-bitmap": "cur",
    "image/x-icns": "icns",
    "image/svg+xml": "svg",
    "image/vnd.adobe.photoshop": "psd",
    "image/x-tga": "tga",
    "image/jp2": "jp2",
    "image/x-jp2-codestream": "j2k",
    "image/x-portable-bitmap": "pbm",
    "image/x-portable-greymap": "pgm",
    "image/x-portable-pixmap": "ppm",
    "image/x-pcx": "pcx",
    "image/x-qoi": "qoi",
    "image/x-xpixmap": "xpm",
    "image/x-xbitmap": "xbm",
    "image/wmf": "wmf",
    "image/x-wmf": "wmf",
    "image/emf": "emf",
    "image/x-emf": "emf",
    "image/x-mvg": "mvg",
    "application/postscript": "ps",
    "image/x-eps": "eps",
    "application/eps": "eps",
    "application/pdf": "pdf",
    "application/vnd.ms-xpsdocument": "xps",
    "application/oxps": "xps",
    "video/x-flc": "fli",
    "video/x-fli": "fli",
}

# Formats we never decode: they need Ghostscript or are vector/script formats
# that ImageMagick would execute. Refused with UNSUPPORTED_FORMAT.
REFUSED = frozenset({"eps", "ps", "pdf", "xps", "wmf", "emf", "mvg", "msl"})

# Format -> the Pillow plugins allowed to open it. Passing an explicit list to
# Image.open avoids Pillow picking a plugin by import order (an ICO read as TGA).
PILLOW_FORMATS = {
    "jpeg": ["JPEG"],  # Pillow's JPEG opener returns an MPO image itself when it is one
    "png": ["PNG"],
    "gif": ["GIF"],
    "webp": ["WEBP"],
    "avif": ["AVIF"],
    "heic": ["HEIF"],
    "tiff": ["TIFF"],
    "bmp": ["BMP", "DIB"],
    "ico": ["ICO"],
    "cur": ["CUR"],
    "icns": ["ICNS"],
    "psd": ["PSD"],
    "tga": ["TGA"],
    "jp2": ["JPEG2000"],
    "j2k": ["JPEG2000"],
    "pbm": ["PPM"],
    "pgm": ["PPM"],
    "ppm": ["PPM"],
    "pcx": ["PCX"],
    "qoi": ["QOI"],
    "dds": ["DDS"],
    "sgi": ["SGI"],
    "sunras": ["SUN"],
    "xbm": ["XBM"],
    "xpm": ["XPM"],
}

# Format -> ImageMagick coder, for files Pillow cannot read (WebP-in-TIFF,
# BMP bitfield variants). SVG is not among them: see svgrender.py.
MAGICK_CODERS = {
    "bmp": "BMP",
    "tiff": "TIFF",
}

# Format -> the file name endings that carry it; results are named with the
# first. Clients read it from GET /formats (folder walks, the page's file
# picker): it only guesses which local files are images, the server still
# sniffs every byte.
FILE_EXTENSIONS = {
    "jpeg": ("jpg", "jpeg", "jpe", "jfif"),
    "png": ("png", "apng"),
    "gif": ("gif",),
    "webp": ("webp",),
    "avif": ("avif",),
    "heic": ("heic", "heif"),
    "tiff": ("tif", "tiff"),
    "bmp": ("bmp", "dib"),
    "ico": ("ico",),
    "cur": ("cur",),
    "icns": ("icns",),
    "svg": ("svg",),
    "psd": ("psd",),
    "tga": ("tga",),
    "jp2": ("jp2", "jpx", "jpf"),
    "j2k": ("j2k", "j2c", "jpc"),
    "pbm": ("pbm",),
    "pgm": ("pgm",),
    "ppm": ("ppm", "pnm"),
    "pcx": ("pcx",),
    "qoi": ("qoi",),
    "dds": ("dds",),
    "sgi": ("sgi", "rgb", "rgba", "bw"),
    "sunras": ("ras", "sun"),
    "xbm": ("xbm",),
    "xpm": ("xpm",),
    "pdf": ("pdf",),
}

# Output format -> its MIME type.
OUTPUT_MEDIA_TYPES = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "avif": "image/avif",
    "heic": "image/heic",
    "gif": "image/gif",
    "tiff": "image/tiff",
    "bmp": "image/bmp",
    "ico": "image/vnd.microsoft.icon",
    "pdf": "application/pdf",
    "svg": "image/svg+xml",
}

# Output format -> (MIME type, file extension).
OUTPUT_TYPES = {fmt: (mime, FILE_EXTENSIONS[fmt][0]) for fmt, mime in OUTPUT_MEDIA_TYPES.items()}


def mime_type(fmt):
    return OUTPUT_TYPES.get(fmt, ("application/octet-stream", "bin"))[0]


def extension(fmt):
    return OUTPUT_TYPES.get(fmt, ("application/octet-stream", "bin"))[1]


def file_types(names):
    """Each named format's file endings and media types, for clients that
    guess from a file's name or type (GET /formats)."""
    media = {}
    for mime, fmt in list(MIME_TO_FORMAT.items()) + [(m, f) for f, m in OUTPUT_MEDIA_TYPES.items()]:
        if mime not in media.setdefault(fmt, []):
            media[fmt].append(mime)
    return {"extensions": {fmt: list(FILE_EXTENSIONS.get(fmt, (fmt,))) for fmt in sorted(names)},
            "media_types": {fmt: media.get(fmt, []) for fmt in sorted(names)}}
