"""Prometheus metrics of a Nameko service process.

`ServiceMetrics` is the DependencyProvider; each service declares one:

- it serves this process's metrics over HTTP at `METRICS.host:port` (port 0:
  a free one) and announces the address for Prometheus' file_sd
  (infra/metrics_targets.py). One `nameko run` process may run several
  services (accounts and jobs), so the server is one per process, started by
  the first service and stopped with the last;
- it counts and times every entrypoint call (`convertix_service_calls_total`);
- it gives workers a `Conversion` recorder (the converter's metrics);
- it registers the collectors a service asks for (the jobs service's
  `convertix_jobs`, read from the database at scrape time).

A process is one process under eventlet, so its values live in memory;
Prometheus adds the processes up (one target each).
"""
import logging
import os
import time
from weakref import WeakKeyDictionary

import eventlet
from eventlet import wsgi
from nameko.extensions import DependencyProvider
from prometheus_client import REGISTRY

from infra import metrics, metrics_targets
from infra.config.schema import METRICS, read

log = logging.getLogger(__name__)


def _label(value):
    return str(value).lower() if value else metrics.UNKNOWN_FORMAT


class Conversion:
    """One task's conversion, as the converter reports it."""

    def __init__(self, output_format, started):
        self.output_format = _label(output_format)
        self.started = started
        self.done = False

    def succeeded(self, result):
        """`result`: convertix.imaging's Converted."""
        input_format = _label(result.input.format)
        output_format = _label(result.format)
        self._finish(input_format, output_format, metrics.SUCCEEDED)
        metrics.CONVERSION_INPUT_BYTES.labels(input_format).observe(result.input.bytes)
        metrics.CONVERSION_OUTPUT_BYTES.labels(output_format).observe(len(result.data))

    def failed(self, code, input_info=None):
        """A bad image or bad options: the task failed with `code`.
        `input_info`: {"format", ...} of the input, None if it was never read."""
        input_format = _label((input_info or {}).get("format"))
        self._finish(input_format, self.output_format, metrics.FAILED)
        metrics.CONVERSION_FAILURES.labels(code).inc()

    def errored(self):
        """Raised: the message goes back to the queue."""
        self._finish(metrics.UNKNOWN_FORMAT, self.output_format, metrics.ERROR)

    def _finish(self, input_format, output_format, outcome):
        if self.done:
            return
        self.done = True
        metrics.CONVERSIONS.labels(input_format, output_format, outcome).inc()
        metrics.CONVERSION_DURATION.labels(input_format, output_format, outcome).observe(
            time.monotonic() - self.started)


class Recorder:
    """What a worker sees: `self.metrics.conversion(output_format)`."""

    def __init__(self, provider, worker_ctx):
        self._provider = provider
        self._worker_ctx = worker_ctx

    def conversion(self, output_format):
        conversion = Conversion(output_format, self._provider.started[self._worker_ctx])
        self._provider.conversions[self._worker_ctx] = conversion
        return conversion


class ServiceMetrics(DependencyProvider):
    def __init__(self, *collectors):
        """`collectors`: callables taking the container, returning a
        prometheus_client collector to register while the service runs."""
        self.collector_factories = collectors
        self.started = WeakKeyDictionary()
        self.conversions = WeakKeyDictionary()
        self.collectors = []

    def setup(self):
        # no METRICS section: this process serves no metrics (the tests' services)
        config = self.container.config
        self.settings = read(config, METRICS) if METRICS.name in config else None
        self.collectors = [make(self.container) for make in self.collector_factories]

    def start(self):
        for collector in self.collectors:
            _registered.add(collector)
        if self.settings:
            _SERVER.acquire(self.settings, self.container.service_name)

    def stop(self):
        for collector in self.collectors:
            _registered.discard(collector)
        if self.settings:
            _SERVER.release(self.container.service_name)

    def kill(self):
        self.stop()

    def get_dependency(self, worker_ctx):
        self.started[worker_ctx] = time.monotonic()
        return Recorder(self, worker_ctx)

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        conversion = self.conversions.pop(worker_ctx, None)
        if conversion is not None and exc_info is not None:
            conversion.errored()
        service = self.container.service_name
        entrypoint = worker_ctx.entrypoint.method_name
        outcome = "error" if exc_info is not None else "ok"
        metrics.SERVICE_CALLS.labels(service, entrypoint, outcome).inc()
        started = self.started.pop(worker_ctx, None)
        if started is not None:
            metrics.SERVICE_CALL_DURATION.labels(service, entrypoint).observe(
                time.monotonic() - started)


class _Registered:
    """The collectors of the running services, registered as one.

    Two containers of one service in one process (tests do that) would each
    report the same families: the first of each name is kept.
    """

    def __init__(self):
        self.collectors = []
        REGISTRY.register(self)

    def add(self, collector):
        self.collectors.append(collector)

    def discard(self, collector):
        if collector in self.collectors:
            self.collectors.remove(collector)

    def describe(self):
        return []  # generated at scrape time only

    def collect(self):
        seen = set()
        for collector in list(self.collectors):
            try:
                families = list(collector.collect())
            except Exception:  # a scrape must not fail because the database did
                log.exception("metrics collector %r failed", collector)
                continue
            for family in families:
                if family.name not in seen:
                    seen.add(family.name)
                    yield family


_registered = _Registered()


class _Server:
    """This process's /metrics server: one, shared by its services."""

    def __init__(self):
        self.services = set()
        self.socket = None
        self.thread = None
        self.target = None

    def acquire(self, settings, service_name):
        self.services.add(service_name)
        if self.socket is None:
            host = settings["host"]
            self.socket = eventlet.listen((host, settings["port"]))
            self.port = self.socket.getsockname()[1]
            self.directory = settings["targets_dir"]
            self.host = host
            self.thread = eventlet.spawn(
                wsgi.server, self.socket, _app, log_output=False, max_size=16)
            log.info("metrics on http://%s:%d/metrics (pid %d)", host, self.port, os.getpid())
        # The component label names the services this process runs.
        if self.target:
            metrics_targets.withdraw(self.target)
        self.target = metrics_targets.announce(
            self.directory, ",".join(sorted(self.services)), self.host, self.port)

    def release(self, service_name):
        self.services.discard(service_name)
        if self.target:
            metrics_targets.withdraw(self.target)
            self.target = None
        if self.services:
            self.target = metrics_targets.announce(
                self.directory, ",".join(sorted(self.services)), self.host, self.port)
            return
        if self.thread is not None:
            self.thread.kill()
            self.socket.close()
            self.thread = self.socket = None


def _app(environ, start_response):
    body, content_type = metrics.exposition()
    start_response("200 OK", [("Content-Type", content_type),
                              ("Content-Length", str(len(body)))])
    return [body]


_SERVER = _Server()
