"""WSGI entry point for gunicorn: `gunicorn gateway.wsgi:app`."""
from gateway import create_app
from infra.config import load_checked
from infra.logs.setup import configure

configure(load_checked(), service="gateway")  # ECS JSON logs, as config.yaml's LOGGING says
app = create_app()
