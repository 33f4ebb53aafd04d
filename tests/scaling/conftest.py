"""Scaling layer: the scaler and its local backend on a real RabbitMQ vhost.
The jobs service runs in the test process; converters are real processes
the backend starts from config.yaml (with this test's vhost and storage)."""
import pytest

from convertix.contract import CONVERT_QUEUE
from infra.config.schema import CONVERTER_KEY, MANAGEMENT_URL_KEY, SCALER_KEY
from infra.queue_stats import QueueStatsReader
from tests.conftest import make_service_config

MANAGEMENT_URL = "http://guest:guest@localhost:15672"


@pytest.fixture
def scaling_config(rabbit_config, sqlite_url, storage_root, tmp_path):
    config = make_service_config(rabbit_config["AMQP_URI"], sqlite_url, storage_root)
    config[MANAGEMENT_URL_KEY] = MANAGEMENT_URL
    config[CONVERTER_KEY]["workers"] = 2  # the replicas' sandboxes (they read config.yaml: 2 too)
    config[SCALER_KEY] = {
        "backend": "local", "min_replicas": 1, "max_replicas": 3,
        "target_backlog_per_replica": 8, "target_work_s_per_replica": 0,
        "scale_up_step": 2, "scale_down_stabilization_s": 8, "poll_interval_s": 0.5,
        "activation_backlog": 0, "metrics_port": 0,
        # 3 replicas x 2 workers: above this machine's cores, as configured
        # (the mechanics of scaling, not its worth on 2 cores)
        "max_sandboxes": 6, "replica_startup_s": 0,
        "local": {
            "log_dir": str(tmp_path / "logs"), "stop_timeout_s": 60,
            "env": {"AMQP_URI": rabbit_config["AMQP_URI"], "STORAGE_ROOT": str(storage_root),
                    "LOG_DIR": str(tmp_path / "logs"), "CONVERSION_TIMEOUT_S": "30",
                    "METRICS_TARGETS_DIR": str(tmp_path / "targets"),
                    "CONVERTER_MEMORY_MB": "1024", "DATABASE_URL": sqlite_url},
        },
    }
    return config


@pytest.fixture
def queue(scaling_config):
    reader = QueueStatsReader(scaling_config["AMQP_URI"], MANAGEMENT_URL)
    yield lambda: reader.read(CONVERT_QUEUE)
    reader.close()
