"""What recent conversions cost, kept for the scaler's cost model.

The scaler learns seconds per input MB from each finished conversion
(scaler/cost.py). It used to get a copy of every `task_succeeded`; now the
jobs service, which handles those events anyway, keeps the figures of the
successes it applies and hands them over in the `pending_work` call the
scaler already makes every poll.

Each kept figure has a number, growing, in this process (named by
`source`, unique per process start). The scaler says the last number it
learned from each source, and gets only the later ones: an answer lost on
the way (the scaler's call timed out) is sent again at the next poll, and
none twice. With several jobs processes each answers for itself when asked.
At most `MAX_KEPT` are kept; past that the oldest go unlearned (the model is
an average; it loses little).
"""
import collections
import itertools
import os
import uuid

from nameko.extensions import DependencyProvider

from scaler.cost import MB, MIN_MB, CostModel

MAX_KEPT = 2000


class Conversions:
    def __init__(self, max_kept=MAX_KEPT):
        self.source = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._kept = collections.deque(maxlen=max_kept)
        self._numbers = itertools.count(1)
        # the scaler's model, taught here too: what a task about to be
        # published costs, for chunking small tasks (chunks.py)
        self.model = CostModel()

    def record(self, payload):
        """A success as its task_succeeded payload has it (applied, not a duplicate)."""
        seconds = payload.get("duration_s")
        if seconds is None:
            return
        figure = {
            "n": next(self._numbers),
            "job_id": payload.get("job_id"), "index": payload.get("index"),
            "output_format": (payload.get("output") or {}).get("format"),
            "input_bytes": (payload.get("input") or {}).get("bytes") or 0,
            "duration_s": seconds}
        self._kept.append(figure)
        self.model.observe(figure["output_format"], figure["input_bytes"], seconds)

    def estimate_s(self, output_format, input_bytes):
        """Engine-seconds a task will take: learned per output format, the
        scaler's prior (by input bytes) until then."""
        return max((input_bytes or 0) / MB, MIN_MB) * self.model.rate(output_format)

    def since(self, learned):
        """{"source", "conversions": those after number `learned[source]`}, oldest first."""
        after = (learned or {}).get(self.source, 0)
        return {"source": self.source, "conversions": [c for c in self._kept if c["n"] > after]}


class RecentConversions(DependencyProvider):
    def setup(self):
        self.conversions = Conversions()

    def get_dependency(self, worker_ctx):
        return self.conversions
