"""convertix/contract.py against nameko: the exchanges its event names travel
on are the ones nameko's dispatchers send to, and the job-change payload
reads back what the jobs service writes."""
import pytest
from nameko.standalone.events import get_event_exchange

from convertix.contract import (
    CONVERTER_EVENTS_EXCHANGE,
    CONVERTER_SERVICE,
    JOBS_EVENTS_EXCHANGE,
    JOBS_SERVICE,
    job_change,
    read_job_change,
)
from gateway.events import events_exchange


@pytest.mark.parametrize("service, name", [
    (JOBS_SERVICE, JOBS_EVENTS_EXCHANGE),
    (CONVERTER_SERVICE, CONVERTER_EVENTS_EXCHANGE),
])
def test_each_services_events_exchange_is_nameko_s(service, name):
    exchange = get_event_exchange(service, {})
    assert (exchange.name, exchange.type, exchange.durable) == (name, "topic", True)


def test_the_gateway_binds_where_nameko_sends_the_jobs_events():
    # nameko's EventDispatcher declares and sends to get_event_exchange(its service)
    nameko_s, ours = get_event_exchange(JOBS_SERVICE, {}), events_exchange()
    assert (ours.name, ours.type, ours.durable) == \
        (nameko_s.name, nameko_s.type, nameko_s.durable)


def test_a_job_change_reads_back():
    body = job_change("j1", "u1", 7, {"id": "j1", "seq": 7}, None)
    assert read_job_change(body) == ("j1", 7, {"id": "j1", "seq": 7})


@pytest.mark.parametrize("body", [{}, {"job_id": "j", "seq": "x", "document": {}}, None,
                                  {"job_id": "j", "document": {}}])
def test_what_is_not_a_job_change_is_refused(body):
    with pytest.raises(ValueError):
        read_job_change(body)
