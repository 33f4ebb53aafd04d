"""What recent conversions cost, kept for the scaler's cost model.

The scaler learns seconds per input MB from each finished conversion
(scaler/cost.py). It used to get a copy of every `task_succeeded`; now the
jobs service, which handles those events anyway, keeps the figures of the
successes it applied and hands them over in the `pending_work` call the
scaler already makes every poll. Per process and bounded: with several jobs
processes each hands over its own when asked, and past `MAX_KEPT` between
two polls the oldest are forgotten (the model is an average; it loses
little).
"""
import collections

from nameko.extensions import DependencyProvider

MAX_KEPT = 2000


class Conversions:
    def __init__(self, max_kept=MAX_KEPT):
        self._kept = collections.deque(maxlen=max_kept)

    def record(self, payload):
        """A success as its task_succeeded payload has it (applied, not a duplicate)."""
        seconds = payload.get("duration_s")
        if seconds is None:
            return
        self._kept.append({
            "job_id": payload.get("job_id"), "index": payload.get("index"),
            "output_format": (payload.get("output") or {}).get("format"),
            "input_bytes": (payload.get("input") or {}).get("bytes") or 0,
            "duration_s": seconds})

    def drain(self):
        """Everything kept since the last call, oldest first."""
        out = list(self._kept)
        self._kept.clear()
        return out


class RecentConversions(DependencyProvider):
    def setup(self):
        self.conversions = Conversions()

    def get_dependency(self, worker_ctx):
        return self.conversions
