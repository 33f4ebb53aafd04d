"""The HTTP gateway: `create_app()` (Flask application factory).

Blueprints: auth (/api/v1/auth), jobs (/api/v1/jobs, /api/v1/convert),
formats (/api/v1/formats), ops (/healthz, /readyz), metrics (/metrics). Extensions live in
`app.extensions`: the RPC proxy pools, JWT, the rate limiter and the storage folder.
"""
from flask import Flask

from gateway import (
    admin,
    auth,
    deliveries,
    errors,
    headers,
    jobs,
    limits,
    live,
    metrics,
    openapi,
    ops,
    requestlog,
    stall_watch,
    web,
)
from gateway.events import JobEvents
from gateway.rpc import ACCEPT_POOL, RpcPool
from gateway.settings import load_settings
from gateway.storage import init_storage


def create_app(test_config=None):
    app = Flask(__name__)
    app.json.sort_keys = False
    if test_config is None:
        app.config.update(load_settings())
    else:
        app.config.update(test_config)

    errors.init_app(app)
    requestlog.init_app(app)  # first: every later hook and line has the trace id
    stall_watch.init_app(app)
    metrics.init_app(app)  # before limits: rate-limited requests are counted too
    limits.init_app(app)
    RpcPool(app)
    RpcPool(app, name=ACCEPT_POOL, timeout=app.config.get("ACCEPT_RPC_TIMEOUT_S"))
    init_storage(app)
    auth.init_app(app)
    ops.init_app(app)
    JobEvents(app)  # job events: one listener per process, waiters per job
    live.init_app(app)
    headers.init_app(app)  # security headers; before web: the pages' CSP wins
    web.init_app(app)  # the page at / and its headers

    app.register_blueprint(auth.bp)
    app.register_blueprint(jobs.bp)
    app.register_blueprint(ops.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(deliveries.bp)
    app.register_blueprint(live.bp)

    from gateway import cli
    cli.init_app(app)
    return app
