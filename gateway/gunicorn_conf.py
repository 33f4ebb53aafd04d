"""gunicorn settings from config.yaml: `gunicorn -c gateway/gunicorn_conf.py gateway.wsgi:app`.

gthread workers: each request is a real thread holding its own RPC proxy
from the pool (gateway/rpc.py). TLS is on when a certificate and key are set.
"""
from convertix.config import load_config, section
from convertix.constants import GATEWAY_KEY

_gateway = section(load_config(), GATEWAY_KEY)

bind = f"{_gateway.get('host', '127.0.0.1')}:{_gateway.get('port', 8080)}"
worker_class = "gthread"
workers = int(_gateway.get("workers", 2))
threads = int(_gateway.get("threads", 8))
timeout = 60
graceful_timeout = 30
accesslog = "-"
if _gateway.get("tls_cert") and _gateway.get("tls_key"):
    certfile = _gateway["tls_cert"]
    keyfile = _gateway["tls_key"]
