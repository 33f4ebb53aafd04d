"""The tasks whose final event this converter process has sent.

A chunk (several small tasks of one job in one message) is acked once all
its tasks have ended. When one of them hits something a retry may mend (its
sandbox died, storage trouble), the others still run and report, and then
the whole message is requeued, so RabbitMQ counts the delivery as it does
for a lone task. The delivery that follows must convert only the unfinished
ones: the tasks recorded here are skipped. A requeued message goes back to
the head of the queue and usually to the same converter; if another one gets
it (or this one died), it converts the ended tasks again, which is harmless:
the jobs service ignores events for a task that has ended.
"""
import collections

from nameko.extensions import DependencyProvider

MAX_KEPT = 10000  # (job id, index) pairs: far more than a converter holds at once


class Ended:
    def __init__(self, max_kept=MAX_KEPT):
        self._kept = collections.OrderedDict()
        self._max_kept = max_kept

    def add(self, job_id, index):
        self._kept[(job_id, index)] = True
        while len(self._kept) > self._max_kept:
            self._kept.popitem(last=False)

    def __contains__(self, task):
        return task in self._kept


class EndedTasks(DependencyProvider):
    def setup(self):
        self.ended = Ended()

    def get_dependency(self, worker_ctx):
        return self.ended
