"""Jobs and tasks by status, counted in the database when Prometheus scrapes.

Counted where the truth is, rather than kept as counters of transitions: the
numbers stay right across restarts, redeliveries and several jobs processes
(each reports the same numbers; aggregate with max, not sum). One small
GROUP BY per table per scrape.
"""
from prometheus_client.core import GaugeMetricFamily

from convertix.contract import JOB_STATUSES, TASK_STATUSES
from infra import metrics
from infra.nameko.database import ModelDatabase
from services.jobs.stats import status_counts


class StatusCollector:
    def __init__(self, database):
        # The database provider, not its engine: that exists only once the
        # provider's setup() has run, which may come after ours.
        self.database = database

    def collect(self):
        with self.database.engine.connect() as conn:
            counts = status_counts(conn)
        jobs, tasks = counts["jobs"], counts["tasks"]
        yield _family(metrics.JOBS, "Jobs in the database, by status.",
                      JOB_STATUSES, jobs)
        yield _family(metrics.TASKS, "Tasks in the database, by status.", TASK_STATUSES, tasks)


def _family(name, documentation, statuses, counts):
    family = GaugeMetricFamily(name, documentation, labels=["status"])
    # every known status, zero included, so that a series never vanishes
    for status in sorted(set(statuses) | set(counts)):
        family.add_metric([status], counts.get(status, 0))
    return family


def status_collector(container):
    """The collector over the service's own database (its ModelDatabase)."""
    return StatusCollector(
        next(dep for dep in container.dependencies if isinstance(dep, ModelDatabase)))
