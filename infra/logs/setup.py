"""Settings (config.yaml `LOGS`) and the handler every process logs through.

config.yaml's `LOGGING` (which `nameko run` applies, and `configure()` applies
for the gateway) sends every record to the console and to `ConvertixHandler`,
both as ECS JSON. The handler appends each line to the local store and, when
`LOGS.elasticsearch_url` is set, offers it to the shipper.
"""
import dataclasses
import logging
import logging.config
import os

from infra.config import section
from convertix.contract import LOGS_KEY
from infra.logs import ecs
from infra.logs.ecs import EcsFormatter


@dataclasses.dataclass(frozen=True)
class LogSettings:
    dir: str = "var/log"                   # the local store
    elasticsearch_url: str = ""            # empty: no shipping, search the local store
    data_stream: str = "logs-convertix-default"
    buffer_size: int = 10000               # lines in memory before they spill to the spool
    batch_size: int = 500                  # lines per _bulk request
    flush_interval_s: float = 1.0
    spool_dir: str = ""                    # empty: <dir>/spool
    request_timeout_s: float = 10.0
    min_backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    item_retries: int = 3                  # per-item 429/5xx, within one send
    adopt_interval_s: float = 60.0         # how often to look for dead processes' spools
    max_file_bytes: int = 32 * 2**20       # local store: per process file, then rotated once
    max_total_bytes: int = 512 * 2**20     # local store: the whole folder
    retention_days: float = 7

    @classmethod
    def from_section(cls, values):
        known = {f.name: f for f in dataclasses.fields(cls)}
        kwargs = {}
        for key, value in (values or {}).items():
            if key in known and value is not None and value != "":
                kwargs[key] = type(known[key].default)(value)
        settings = cls(**kwargs)
        if not settings.spool_dir:
            settings = dataclasses.replace(settings, spool_dir=os.path.join(settings.dir, "spool"))
        return settings

    @classmethod
    def from_config(cls, config):
        return cls.from_section(section(config, LOGS_KEY))


class ConvertixHandler(logging.Handler):
    def __init__(self, settings, name=None):
        super().__init__()
        from infra.logs.store import LocalStore

        self.settings = settings
        self.name_ = name or ecs.process_service()
        self.setFormatter(EcsFormatter(service=self.name_))
        self.store = LocalStore(settings.dir, self.name_, settings.max_file_bytes,
                                settings.max_total_bytes, settings.retention_days)
        self.shipper = None
        if settings.elasticsearch_url:
            from infra.logs.shipper import Shipper

            self.shipper = Shipper(settings, self.name_)

    def emit(self, record):
        try:
            line = self.format(record)
            self.store.write(line)
            if self.shipper is not None:
                from infra.logs.shipper import in_shipper

                if not in_shipper():  # the client's own lines would feed back
                    self.shipper.offer(line)
        except Exception:
            self.handleError(record)

    def close(self):
        try:
            if self.shipper is not None:
                self.shipper.close()
            self.store.close()
        finally:
            super().close()


def make_handler(settings=None, name=None):
    """The factory config.yaml's LOGGING names: `settings` is the LOGS section."""
    return ConvertixHandler(LogSettings.from_section(settings), name=name)


def configure(config, service=None):
    """Apply config.yaml's LOGGING (as `nameko run` does) for a process named `service`."""
    if service:
        ecs.set_process_service(service)
    if "LOGGING" in config:
        logging.config.dictConfig(config["LOGGING"])
    else:
        logging.basicConfig(level=logging.INFO)


def handlers():
    """This process's Convertix handlers (tests and benchmarks flush them)."""
    return [h for h in logging.getLogger().handlers if isinstance(h, ConvertixHandler)]
