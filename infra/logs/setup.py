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

from infra.config.schema import LOGGING_KEY, LOGS, read
from infra.logs import ecs
from infra.logs.ecs import EcsFormatter


@dataclasses.dataclass(frozen=True)
class LogSettings:
    """config.yaml's LOGS section; each field's default and meaning:
    infra/config/schema.py (LOGS)."""
    dir: str
    elasticsearch_url: str
    data_stream: str
    buffer_size: int
    batch_size: int
    flush_interval_s: float
    spool_dir: str
    request_timeout_s: float
    min_backoff_s: float
    max_backoff_s: float
    item_retries: int
    adopt_interval_s: float
    max_file_bytes: int
    max_total_bytes: int
    retention_days: float

    @classmethod
    def from_section(cls, values):
        """From the LOGS section's values (checked; missing ones: the schema's defaults)."""
        settings = cls(**LOGS.resolve(values))
        if not settings.spool_dir:
            settings = dataclasses.replace(settings, spool_dir=os.path.join(settings.dir, "spool"))
        return settings

    @classmethod
    def from_config(cls, config):
        return cls.from_section(read(config, LOGS))


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
    if config.get(LOGGING_KEY):
        logging.config.dictConfig(config[LOGGING_KEY])
    else:
        logging.basicConfig(level=logging.INFO)


def handlers():
    """This process's Convertix handlers (tests and benchmarks flush them)."""
    return [h for h in logging.getLogger().handlers if isinstance(h, ConvertixHandler)]
