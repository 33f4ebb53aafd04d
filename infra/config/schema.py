"""config.yaml's schema: every key, its default, its type and what it does,
each defined once. The gateway, the services and the scaler read config
through it; nothing else holds a default.

Adding a key is one `Key(name, default, check, doc)` line in its section below
(a new section: one `Section(...)` and one line in `CONFIG`). A key that is
not here stops start-up (`unknown key`), as does a value its check refuses;
the message names the key: `config.yaml: SCALER.max_replicas: expected an
integer >= 1, got 'x'`. An empty value (`${VAR:}`, or `key:` alone) means
the default.

The pure core (convertix/) cannot read this file (it imports nothing of
infra/), yet its sandbox and its conversion bounds need values without any
config: `convertix.imaging.Limits()` and `Sandbox()`'s keyword defaults
mirror the defaults here, and tests/unit/test_config_defaults.py holds them
equal. Rules between keys (a file the gateway takes must be one the
converter converts) are each section's `rules`, checked with its keys.
"""
import copy
import dataclasses

from nameko import constants as nameko_constants

from convertix.contract import ACCOUNTS_SERVICE, JOBS_SERVICE, NOTIFIER_SERVICE
from infra.config.checks import MAPPING, TEXT, AtMost, Flag, Integer, Invalid, Number, OneOf

# --- the section (and top-level) names ---
AMQP_URI_KEY = "AMQP_URI"
AMQP_QUEUE_TYPE_KEY = "AMQP_QUEUE_TYPE"
MAX_WORKERS_KEY = "max_workers"
DB_URIS_KEY = "DB_URIS"
DATABASE_KEY = "DATABASE"
STORAGE_KEY = "STORAGE"
CONVERTER_KEY = "CONVERTER"
LIMITS_KEY = "LIMITS"
GATEWAY_KEY = "GATEWAY"
AUTH_KEY = "AUTH"
METRICS_KEY = "METRICS"
MANAGEMENT_URL_KEY = "RABBITMQ_MANAGEMENT_URL"
SCALER_KEY = "SCALER"
LOGS_KEY = "LOGS"
LOGGING_KEY = "LOGGING"
NOTIFIER_KEY = "NOTIFIER"
JOBS_KEY = "JOBS"
WEBHOOK_ALLOW_PRIVATE_KEY = "WEBHOOK_ALLOW_PRIVATE"

# --- what comes only from the environment (secrets, and a library's switch) ---
JWT_SECRET_ENV = "CONVERTIX_JWT_SECRET"
# config.yaml's ${VAR} for CONVERTER.workers: the local scaler backend sets it
# for the replicas it starts, so that they run what the scaler counts on
CONVERTER_WORKERS_ENV = "CONVERTER_WORKERS"
ELASTICSEARCH_API_KEY_ENV = "ELASTICSEARCH_API_KEY"
PROMETHEUS_MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's multiprocess mode

SCALER_BACKENDS = ("local", "swarm")   # scaler/backends' table has one entry each
DEFAULT_DATABASE_URL = "sqlite:///var/convertix.db"
MiB = 2**20


class ConfigError(ValueError):
    """A config key or value refused; the message names the key."""


@dataclasses.dataclass(frozen=True)
class Key:
    name: str
    default: object
    check: object
    doc: str

    def resolve(self, value, where):
        if value is None or value == "":
            return copy.deepcopy(self.default)  # a default mapping is never shared
        if isinstance(self.check, Section):
            return self.check.resolve(value, where)
        try:
            return self.check(value)
        except Invalid as exc:
            raise ConfigError(f"{where}: expected {exc}, got {value!r}") from None


class Section:
    """A mapping of keys; `passthrough` names keys that others read as they are."""

    def __init__(self, name, doc, *keys, passthrough=(), rules=()):
        self.name, self.doc = name, doc
        self.keys = {key.name: key for key in keys}
        if len(self.keys) != len(keys):  # a second definition would silently win
            raise ValueError(f"config schema: a key of {name or 'the file'} is defined twice")
        self.passthrough = frozenset(passthrough)
        self.rules = tuple(rules)  # checks between this section's keys (infra/config/checks.py)

    @property
    def default(self):
        return self.resolve({})

    def resolve(self, values, where=None):
        """The section's values: checked, typed, defaults filled in."""
        where = self.name if where is None else where
        if values is None or values == "":
            values = {}
        if not isinstance(values, dict):
            raise ConfigError(f"{where}: expected a mapping, got {values!r}")
        unknown = sorted(set(values) - set(self.keys) - self.passthrough, key=str)
        if unknown:
            raise ConfigError(f"{_join(where, unknown[0])}: unknown key "
                              f"(known: {', '.join(self.keys)})")
        resolved = {name: values[name] for name in self.passthrough if name in values}
        for name, key in self.keys.items():
            resolved[name] = key.resolve(values.get(name), _join(where, name))
        for rule in self.rules:
            try:
                rule(resolved)
            except Invalid as exc:
                raise ConfigError(f"{where}: {exc}") from None
        return resolved


def _join(where, name):
    return f"{where}.{name}" if where else str(name)


PORT = Integer(min=0, max=65535)
POSITIVE = Integer(min=1)
POSITIVE_NUMBER = Number(min=0, above=True)

STORAGE = Section(
    STORAGE_KEY, "the folder the gateway and the converter share",
    Key("root", "var/storage", TEXT, "where uploads and results are kept"),
)

CONVERTER = Section(
    CONVERTER_KEY, "the converter service",
    Key("max_attempts", 3, POSITIVE, "deliveries of a task before the dead-letter queue"),
    Key("timeout_s", 60.0, POSITIVE_NUMBER, "per task; then CONVERSION_TIMEOUT"),
    Key("workers", 2, POSITIVE,
        "sandboxes per converter replica: its nameko workers, so its prefetch too"),
    Key("memory_mb", 2048, POSITIVE, "address-space limit of each sandbox process"),
    Key("sandbox_user", "dynamic", TEXT,
        "the sandbox's user: dynamic (a uid of its own), a user name, or self (no switch)"),
    Key("sandbox_max_file_mb", 1024, POSITIVE, "largest file a sandbox may write (RLIMIT_FSIZE)"),
    Key("sandbox_max_open_files", 64, POSITIVE, "files a sandbox may hold open (RLIMIT_NOFILE)"),
    Key("progress_after_s", 0.5, Number(min=0),
        "a task reports its stages once it has run this long (0: from its start)"),
    Key("tasks_ahead_per_sandbox", 1, Integer(min=0),
        "tasks a converter holds and the jobs service publishes beyond one per sandbox"),
    Key("chunk_max_tasks", 8, POSITIVE,
        "small tasks of one job published in one message at most (1: one task per message)"),
    Key("chunk_max_s", 1.0, POSITIVE_NUMBER,
        "estimated engine-seconds of one chunk at most; a task estimated above it goes alone"),
)

LIMITS = Section(
    LIMITS_KEY, "bounds on uploads (the gateway) and on each conversion (the converter)",
    Key("max_request_bytes", 200 * MiB, POSITIVE, "bytes per upload request"),
    Key("max_file_bytes", 50 * MiB, POSITIVE, "bytes per uploaded file"),
    Key("max_files", 50, POSITIVE, "files per job"),
    Key("max_input_bytes", 50 * MiB, POSITIVE, "bytes of one conversion's input"),
    Key("max_pixels", 100_000_000, POSITIVE,
        "pixels per frame, checked from the header before decoding"),
    # An output is as wide as its input unless the options resize it; the
    # width/height options' own range is the API's (convertix/options.py).
    Key("max_width", 20000, POSITIVE, "pixels wide of an input, checked from its header"),
    Key("max_height", 20000, POSITIVE, "pixels high of an input, checked from its header"),
    Key("max_frames", 300, POSITIVE, "frames of an animation"),
    Key("max_output_pixels", 100_000_000, POSITIVE, "pixels of the output, all frames together"),
    Key("max_output_bytes", 128 * MiB, POSITIVE, "bytes of one output; more is IMAGE_TOO_LARGE"),
    Key("max_output_bytes_per_pixel", 8, POSITIVE,
        "bytes of one output per pixel (input's or output's, the larger), plus 1 MiB"),
    # what the gateway takes, the converter must convert: not a 202, then a failed task
    rules=(AtMost("max_file_bytes", "max_input_bytes"),),
)

GATEWAY = Section(
    GATEWAY_KEY, "the HTTP gateway (gunicorn and Flask)",
    Key("host", "127.0.0.1", TEXT, "address gunicorn binds"),
    Key("port", 8080, PORT, "port gunicorn binds"),
    # One: a gevent worker holds every connection, and each worker receives
    # and decodes every job event (docs/DESIGN.md "Live events"); more where
    # the gateway's own CPU is the limit (a node with cores to spare).
    Key("workers", 1, POSITIVE, "gunicorn worker processes"),
    Key("threads", 8, POSITIVE, "threads per worker (gthread)"),
    Key("worker_class", "gevent", OneOf(("gevent", "gthread")),
        "gunicorn's worker: gevent holds many idle event streams per worker"),
    Key("worker_connections", 1000, POSITIVE, "open connections per gevent worker"),
    Key("sse_heartbeat_s", 10.0, POSITIVE_NUMBER, "a comment on an idle event stream this often"),
    # A stream holds a connection (docs/DESIGN.md "Security: the gateway's
    # boundaries"): at least the web page's one per job a user follows.
    Key("sse_streams_per_user", 64, POSITIVE,
        "event streams one user holds open at once, in all gateway processes; then 429"),
    Key("sse_max_stream_s", 600.0, POSITIVE_NUMBER,
        "an event stream ends after this long (an `end` event); clients reconnect"),
    Key("rpc_timeout_s", 30.0, POSITIVE_NUMBER, "how long an RPC call to a service may take"),
    # short where a broker member may go (the Swarm stack): the client hears
    # 503 and Retry-After soon and tries again, rather than waiting out a call
    # lost with the member (docs/DESIGN.md "Three nodes")
    Key("accept_rpc_timeout_s", 30.0, POSITIVE_NUMBER,
        "how long accepting a job (POST /jobs) waits on the jobs service; then 503"),
    Key("rpc_pool_size", 8, POSITIVE, "RPC proxies kept open per worker"),
    Key("sync_convert_timeout_s", 10.0, POSITIVE_NUMBER,
        "how long POST /convert waits for its result"),
    Key("auth_rate_limit", "10 per minute", TEXT, "login and register, per client address"),
    Key("rate_limit_storage", "redis://127.0.0.1:6379/0", TEXT,
        "Flask-Limiter's store: redis://... shared by every gateway process; memory:// per process"),
    Key("rate_limit_prefix", "", TEXT,
        "prefix of the rate-limit keys in that store; empty: convertix:<the AMQP vhost>"),
    Key("login_rate_limit_per_user", "10 per minute; 50 per hour", TEXT,
        "logins per username, from any address"),
    Key("job_rate_limit_per_user", "120 per minute; 3000 per hour", TEXT,
        "POST /jobs and /convert, per user"),
    Key("convert_concurrency_per_user", 2, POSITIVE, "/convert requests a user holds at once"),
    Key("trusted_proxies", 0, Integer(min=0),
        "proxies in front of the gateway whose X-Forwarded-For/-Proto are believed; 0: none"),
    Key("tls_cert", "", TEXT, "certificate file; with tls_key, the gateway speaks HTTPS"),
    Key("tls_key", "", TEXT, "the certificate's private key file"),
)

AUTH = Section(
    AUTH_KEY, "JWT sessions (the key itself: CONVERTIX_JWT_SECRET, environment only)",
    Key("access_token_ttl_s", 900, POSITIVE, "lifetime of an access token"),
    Key("refresh_token_ttl_s", 30 * 24 * 3600, POSITIVE, "lifetime of a session"),
)

METRICS = Section(
    METRICS_KEY, "Prometheus metrics of each process; without the section a service serves none",
    Key("host", "127.0.0.1", TEXT,
        "address each `nameko run` process, and the gateway's metrics listener, serve /metrics on"),
    Key("port", 0, PORT, "its port; 0: a free one, announced in targets_dir"),
    Key("targets_dir", "var/metrics/targets", TEXT, "file_sd target files, one per process"),
    Key("multiproc_dir", "var/metrics/multiproc", TEXT, "gunicorn workers' shared values"),
)

SCALER_LOCAL = Section(
    "local", "the local backend: converter processes on this machine",
    Key("log_dir", "var/log", TEXT, "where each replica's console output goes"),
    Key("stop_timeout_s", 120.0, POSITIVE_NUMBER, "a draining replica is SIGKILLed after this"),
    # infra.runner is `nameko run` without its start-up SIGTERM race: the
    # scaler may drain a replica it has only just started.
    Key("command", "{python} -m infra.runner --config {config} services.converter.service",
        TEXT, "a replica's command line; {python} and {config} are filled in"),
    Key("env", {}, MAPPING, "environment for replicas, over the scaler's own"),
)

SCALER_SWARM = Section(
    "swarm", "the swarm backend: a Docker Swarm service's replica count",
    Key("service", "convertix_converter", TEXT, "the converter's Swarm service"),
    Key("docker_host", "unix:///var/run/docker.sock", TEXT, "the Docker API"),
)

SCALER = Section(
    SCALER_KEY, "the auto-scaler (scaler/policy.py has the rules)",
    Key("backend", "local", OneOf(SCALER_BACKENDS), "where replicas run"),
    Key("min_replicas", 1, Integer(min=0), "replicas at least; 0: none while idle"),
    Key("max_replicas", 4, POSITIVE, "replicas at most"),
    Key("target_backlog_per_replica", 8.0, POSITIVE_NUMBER, "ready + unacked tasks per replica"),
    Key("target_work_s_per_replica", 0.0, Number(min=0),
        "> 0: target estimated CPU-seconds per replica instead"),
    Key("scale_up_step", 2, POSITIVE, "replicas added per decision at most"),
    Key("scale_down_stabilization_s", 60.0, Number(min=0),
        "the load must stay low this long before a replica goes"),
    Key("poll_interval_s", 2.0, POSITIVE_NUMBER, "seconds between decisions"),
    Key("activation_backlog", 0.0, Number(min=0), "a backlog up to this is idle"),
    Key("max_sandboxes", 0, Integer(min=0),
        "busy sandboxes (replicas x workers) at most; 0: the cores, with the local backend"),
    Key("replica_startup_s", 3.0, Number(min=0),
        "from a replica's start to its consuming; work done sooner adds no replica"),
    Key("metrics_port", 9102, PORT, "the scaler's Prometheus port; 0: off"),
    Key(SCALER_LOCAL.name, SCALER_LOCAL.default, SCALER_LOCAL, SCALER_LOCAL.doc),
    Key(SCALER_SWARM.name, SCALER_SWARM.default, SCALER_SWARM, SCALER_SWARM.doc),
    rules=(AtMost("min_replicas", "max_replicas"),),
)

JOBS = Section(
    JOBS_KEY, "the jobs service: storage quota, retention, fair sharing",
    Key("quota_bytes", 1024 * MiB, POSITIVE, "bytes a user may keep stored (inputs + outputs)"),
    Key("retention_s", 7 * 24 * 3600.0, POSITIVE_NUMBER, "a final job's files and record then go"),
    Key("retention_batch", 100, POSITIVE, "expired jobs removed per sweep at most"),
    Key("retention_interval_s", 60.0, POSITIVE_NUMBER, "seconds between two retention sweeps"),
    Key("open_job_timeout_s", 3600.0, POSITIVE_NUMBER,
        "a job whose upload is still read, unchanged this long (its gateway died): removed"),
    Key("max_tasks_in_flight_per_user", 0, Integer(min=0),
        "a user's tasks queued at once, more wait; 0: a fair share of the converters' sandboxes"),
    Key("reuse_results", True, Flag(),
        "same bytes + same options again by the same user: the stored result, not a conversion"),
    Key("event_batch_max", 200, POSITIVE, "task events applied in one transaction at most"),
    Key("event_batch_wait_s", 0.002, Number(min=0, max=1),
        "a batch's leader waits this long for the events delivered with its own"),
)

NOTIFIER = Section(
    NOTIFIER_KEY, "webhooks: a final job posted to its callback_url, retried",
    Key("timeout_s", 5.0, POSITIVE_NUMBER, "per attempt"),
    Key("max_attempts", 8, POSITIVE, "attempts in all"),
    Key("base_delay_s", 6.0, POSITIVE_NUMBER, "the wait after the first failed attempt"),
    Key("factor", 3.0, Number(min=1), "each later wait this many times the one before"),
    Key("max_delay_s", 1800.0, POSITIVE_NUMBER, "the longest wait"),
    Key("jitter", 0.25, Number(min=0, max=1), "the share of a wait that is random"),
    Key("batch", 50, POSITIVE, "due deliveries picked up per tick"),
    Key("concurrency", 20, POSITIVE, "attempts in flight at once, per notifier process"),
    Key("per_user_in_flight", 4, POSITIVE,
        "attempts of one user in flight at once, per process; more wait their turn"),
    Key("per_host_in_flight", 4, POSITIVE,
        "attempts to one receiver (host:port) in flight at once, per process"),
    Key("max_rounds", 5, POSITIVE,
        "rounds of attempts per job in all: the first and the redeliveries (POST .../deliveries)"),
    Key("redelivery_rate_limit_per_user", "10 per minute; 100 per hour", TEXT,
        "POST /jobs/<id>/deliveries per user, all jobs together (the gateway counts them)"),
)

DATABASE = Section(
    DATABASE_KEY, "PostgreSQL connections of the services (a value the URL sets itself wins)",
    Key("connect_timeout_s", 5, Integer(min=2),
        "libpq connect_timeout: per host of a multi-host URL, then the next one"),
    Key("tcp_user_timeout_s", 10, POSITIVE,
        "a connection whose server stopped answering (its node lost) fails after this long"),
)

LOGS = Section(
    LOGS_KEY, "log store and shipping (ELASTICSEARCH_API_KEY: environment only)",
    Key("dir", "var/log", TEXT, "the local store: <dir>/<service>.<pid>.ndjson"),
    Key("elasticsearch_url", "", TEXT, "empty: no shipping, search the local store"),
    Key("data_stream", "logs-convertix-default", TEXT, "Elasticsearch data stream"),
    Key("buffer_size", 10000, POSITIVE, "lines in memory before they spill to the spool"),
    Key("batch_size", 500, POSITIVE, "lines per _bulk request"),
    Key("flush_interval_s", 1.0, POSITIVE_NUMBER, "a partial batch waits at most this long"),
    Key("spool_dir", "", TEXT, "empty: <dir>/spool"),
    Key("request_timeout_s", 10.0, POSITIVE_NUMBER, "per _bulk request"),
    Key("min_backoff_s", 0.5, POSITIVE_NUMBER, "first pause after a failed send"),
    Key("max_backoff_s", 30.0, POSITIVE_NUMBER, "longest pause after failed sends"),
    Key("item_retries", 3, Integer(min=0), "per-item 429/5xx retries within one send"),
    Key("adopt_interval_s", 60.0, POSITIVE_NUMBER, "how often to look for dead processes' spools"),
    Key("max_file_bytes", 32 * MiB, POSITIVE, "local store: per process file, then rotated once"),
    Key("max_total_bytes", 512 * MiB, POSITIVE, "local store: the whole folder"),
    Key("retention_days", 7.0, POSITIVE_NUMBER, "local store: files older than this go"),
)

# The whole file. Nameko's own keys pass through to nameko as they are.
CONFIG = Section(
    "", "config.yaml",
    Key(AMQP_URI_KEY, "pyamqp://guest:guest@localhost:5672/", TEXT, "RabbitMQ"),
    Key(AMQP_QUEUE_TYPE_KEY, "classic", OneOf(("classic", "quorum")),
        "quorum: the services' durable queues are quorum queues (a RabbitMQ cluster)"),
    Key(MAX_WORKERS_KEY, 10, POSITIVE,
        "nameko workers per service process; the converter's: CONVERTER.workers"),
    Key(DB_URIS_KEY, {f"{service}:Base": DEFAULT_DATABASE_URL
                      for service in (ACCOUNTS_SERVICE, JOBS_SERVICE, NOTIFIER_SERVICE)}, MAPPING,
        "'<service>:Base' -> database URL (nameko-sqlalchemy)"),
    Key(MANAGEMENT_URL_KEY, "http://guest:guest@localhost:15672", TEXT,
        "RabbitMQ's management API: queue stats for the scaler and the admin"),
    Key(LOGGING_KEY, None, MAPPING, "logging.config.dictConfig; absent: basicConfig"),
    Key(WEBHOOK_ALLOW_PRIVATE_KEY, False, Flag(),
        "true: webhooks may reach loopback and private addresses (local use and tests only)"),
    *(Key(s.name, s.default, s, s.doc)
      for s in (STORAGE, CONVERTER, LIMITS, GATEWAY, AUTH, NOTIFIER, METRICS, SCALER, LOGS,
                JOBS, DATABASE)),
    passthrough=tuple(value for name, value in vars(nameko_constants).items()
                      if name.endswith("_CONFIG_KEY")),
)


def read(config, section):
    """One section of a loaded config: checked, typed, defaults filled in."""
    return section.resolve(config.get(section.name))


def read_value(config, name):
    """One top-level key of a loaded config (AMQP_URI, max_workers...), checked."""
    return CONFIG.keys[name].resolve(config.get(name), name)


def validate(config, source="config.yaml"):
    """The whole config, checked (at a process's start); returns it resolved."""
    try:
        return CONFIG.resolve(config)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
