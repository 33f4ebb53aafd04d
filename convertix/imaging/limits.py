"""Resource bounds for one conversion, checked before and after decoding."""
import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_input_bytes: int = 50 * 2**20
    max_pixels: int = 100_000_000        # per frame, from the header, before decoding
    max_width: int = 20000
    max_height: int = 20000
    max_frames: int = 300
    max_output_pixels: int = 100_000_000

    @classmethod
    def from_dict(cls, d):
        # Unknown keys are ignored so that a newer sender can talk to an older worker.
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: int(v) for k, v in (d or {}).items() if k in names})

    def to_dict(self):
        return dataclasses.asdict(self)
