"""What the backlog costs in CPU-seconds, learned from measured conversions.

Pure. A small thumbnail and a 50 MP AVIF encode are not the same work, so
with `target_work_s_per_replica` set the policy targets estimated seconds per
replica instead of messages. The features are what is known before a task
runs — its input size in bytes and its output format (the pixel count is
known only once the sandbox has read the header) — and each finished task
teaches the model: seconds per input megabyte, per output format, as an
exponentially weighted average that starts from the priors below.
"""
from dataclasses import dataclass

MB = 1024 * 1024
# Starting points (seconds per input MB, measured with bench/pipeline.py on
# this kind of machine, rounded up); replaced as real conversions finish.
PRIOR_S_PER_MB = {"avif": 1.6, "heic": 1.2, "webp": 0.35, "png": 0.35, "tiff": 0.1,
                  "jpeg": 0.12, "gif": 0.3, "bmp": 0.08}
DEFAULT_S_PER_MB = 0.4
BASE_S = 0.02            # per task, whatever its size: queueing, reads, events
MIN_MB = 0.05            # below this the base cost dominates; avoids huge rates


@dataclass(frozen=True)
class PendingGroup:
    """Unfinished tasks of one kind (from the jobs service)."""
    output_format: str
    count: int
    input_bytes: int

    @classmethod
    def from_dict(cls, item):
        return cls(item.get("output_format") or "", int(item.get("count") or 0),
                   int(item.get("input_bytes") or 0))


class CostModel:
    def __init__(self, alpha=0.2):
        self.alpha = alpha
        self.rates = {}      # output format -> learned seconds per input MB
        self.samples = {}    # output format -> conversions seen

    def rate(self, output_format):
        return self.rates.get(output_format,
                              PRIOR_S_PER_MB.get(output_format, DEFAULT_S_PER_MB))

    def observe(self, output_format, input_bytes, seconds):
        """One finished conversion: its input size and how long it took."""
        if not output_format or seconds is None or seconds < 0:
            return
        measured = max(seconds - BASE_S, 0.0) / max(input_bytes / MB, MIN_MB)
        previous = self.rate(output_format)
        self.rates[output_format] = previous + self.alpha * (measured - previous)
        self.samples[output_format] = self.samples.get(output_format, 0) + 1

    def estimate(self, groups):
        """Estimated CPU-seconds of the unfinished tasks."""
        return sum(g.count * BASE_S + max(g.input_bytes / MB, g.count * MIN_MB)
                   * self.rate(g.output_format) for g in groups)

    def to_dict(self):
        return {fmt: {"s_per_mb": round(self.rate(fmt), 4), "samples": self.samples.get(fmt, 0)}
                for fmt in sorted(set(PRIOR_S_PER_MB) | set(self.rates))}
