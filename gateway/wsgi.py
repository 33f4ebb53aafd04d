"""WSGI entry point for gunicorn: `gunicorn gateway.wsgi:app`."""
from infra.config import load_checked
from infra.logs.setup import configure
from gateway import create_app

configure(load_checked(), service="gateway")  # ECS JSON logs, as config.yaml's LOGGING says
app = create_app()
