"""The Elasticsearch client, as the shipper and the search use it.

The client's major version must match the cluster's: setup.cfg pins the 8.x
client, for Elasticsearch 8 (it sends `compatible-with=8`, which an 8.x
server requires; a 9.x client is refused by an 8.x server). Retries are ours
(see shipper.py), so the transport's own are off.
"""
import os

from elasticsearch import Elasticsearch

from convertix.errors import ConvertixError
from infra.config.schema import ELASTICSEARCH_API_KEY_ENV

SEARCH_TIMEOUT_S = 10


def client(settings, timeout=None):
    return Elasticsearch(
        settings.elasticsearch_url,
        api_key=os.environ.get(ELASTICSEARCH_API_KEY_ENV) or None,
        request_timeout=timeout or settings.request_timeout_s,
        max_retries=0, retry_on_timeout=False)


_clients = {}


def search(settings, query):
    """ECS documents matching `query`, newest first; BACKEND_UNAVAILABLE when ES fails."""
    from elastic_transport import TransportError
    from elasticsearch import ApiError

    key = (settings.elasticsearch_url, settings.data_stream)
    es = _clients.get(key)
    if es is None:
        es = _clients[key] = client(settings, timeout=SEARCH_TIMEOUT_S)
    try:
        found = es.search(index=settings.data_stream, ignore_unavailable=True,
                          **query.to_elasticsearch())
    except (ApiError, TransportError) as exc:
        raise ConvertixError(f"Elasticsearch did not answer the search ({type(exc).__name__})",
                             code="BACKEND_UNAVAILABLE") from exc
    return [hit["_source"] for hit in found["hits"]["hits"]]
