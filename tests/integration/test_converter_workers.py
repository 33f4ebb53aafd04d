"""CONVERTER.workers is the converter's one count of sandboxes, whatever the
top-level max_workers says for the other services (the scaler and fair
sharing count on that one key); its nameko workers and prefetch hold
CONVERTER.tasks_ahead_per_sandbox more per sandbox."""
from nameko.messaging import QueueConsumer
from nameko.testing.utils import get_extension

from services.converter.engine import EnginePool
from services.converter.service import ConverterService
from tests.conftest import make_service_config


def test_the_converter_runs_as_many_workers_as_sandboxes(
        container_factory, rabbit_config, sqlite_url, storage_root):
    config = make_service_config(rabbit_config["AMQP_URI"], sqlite_url, storage_root,
                                 max_workers=10,
                                 CONVERTER={"workers": 3, "tasks_ahead_per_sandbox": 1})
    container = container_factory(ConverterService, config)
    container.start()
    assert len(get_extension(container, EnginePool).sandboxes) == 3
    assert container.max_workers == 6
    assert get_extension(container, QueueConsumer).prefetch_count == 6
