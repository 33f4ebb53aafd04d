"""Resource bounds for one conversion, checked before and after decoding."""
import dataclasses
from dataclasses import dataclass

# Headers, palettes, ICC profiles and EXIF a tiny image may still carry.
OUTPUT_SLACK_BYTES = 2**20


@dataclass(frozen=True)
class Limits:
    """The bounds; the defaults mirror config.yaml's LIMITS (infra/config/schema.py)
    for a conversion without config, and tests/unit/test_config_defaults.py
    holds them equal."""
    max_input_bytes: int = 50 * 2**20
    max_pixels: int = 100_000_000        # per frame, from the header, before decoding
    max_width: int = 20000
    max_height: int = 20000
    max_frames: int = 300
    max_output_pixels: int = 100_000_000
    # What one output may weigh: at most this many bytes, and at most this many
    # bytes per pixel (of the input or the output, whichever has more) plus
    # OUTPUT_SLACK_BYTES for headers and metadata. A 316 KB solid 10000x10000
    # PNG made a 300 MB BMP: IMAGE_TOO_LARGE now.
    max_output_bytes: int = 128 * 2**20
    max_output_bytes_per_pixel: int = 8

    @classmethod
    def from_dict(cls, d):
        # Unknown keys are ignored so that a newer sender can talk to an older worker.
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: int(v) for k, v in (d or {}).items() if k in names})

    def to_dict(self):
        return dataclasses.asdict(self)

    def output_cap(self, input_pixels, output_pixels):
        """The most bytes an output of `output_pixels` from `input_pixels` may have."""
        by_pixels = self.max_output_bytes_per_pixel * max(input_pixels, output_pixels) + OUTPUT_SLACK_BYTES
        return min(self.max_output_bytes, by_pixels)
