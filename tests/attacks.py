"""Generated attack inputs, shared by the unit tests and the abuse layer (tests/abuse)."""
import io
import zlib


def decoy_id_svg(fan_out=40, levels=3, size=1000):
    """Nested <use> groups, each id given twice: first to the real group, then to an
    empty decoy. CairoSVG draws the first; a counter keeping the last sees almost
    nothing. Drawn: fan_out ** levels rectangles over the whole canvas."""
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
             f'width="{size}" height="{size}"><defs>']
    parts.append('<g id="l0">' + f'<rect width="{size}" height="{size}" fill="#123"/>' * fan_out
                 + '</g><g id="l0"/>')
    for level in range(1, levels):
        parts.append(f'<g id="l{level}">' + f'<use xlink:href="#l{level - 1}"/>' * fan_out
                     + f'</g><g id="l{level}"/>')
    parts.append(f'</defs><use xlink:href="#l{levels - 1}"/></svg>')
    return "".join(parts).encode()


def solid_png(width=10000, height=10000):
    """A solid grey PNG: a few hundred KB that decodes to width*height pixels
    (10000x10000: 316 KB in, 300 MB as a BMP). Written by hand, row by row, so
    that making it costs no more memory than one row."""
    def chunk(kind, body):
        return (len(body).to_bytes(4, "big") + kind + body
                + zlib.crc32(kind + body).to_bytes(4, "big"))
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    row = b"\x00" + b"\x80" * width
    comp = zlib.compressobj(9)
    out = io.BytesIO()
    for _ in range(height):
        out.write(comp.compress(row))
    out.write(comp.flush())
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", out.getvalue()) + chunk(b"IEND", b"")
