"""The gateway's requests under infra/stall_watch.py (gevent workers only)."""
from infra import stall_watch


def init_app(app):
    where = stall_watch.folder()
    if not where:
        return
    try:
        import gevent
        from greenlet import getcurrent
    except ImportError:
        return
    watch = stall_watch.Watch(where, stall_watch.threshold_s())
    started = []

    @app.before_request
    def _enter():
        from flask import request
        if not started:
            started.append(gevent.spawn(watch.run, gevent.sleep))
        watch.enter(getcurrent(), f"{request.method} {request.path}")

    @app.teardown_request
    def _leave(exc):
        watch.leave(getcurrent())
