"""Calling the Nameko services from Flask: a pool of started RPC proxies.

A started `ClusterRpcProxy` holds AMQP connections and a reply queue; one
must never serve two requests at once (threads corrupt its frames, greenlets
hit "second simultaneous read"). So each request checks one out of a small
pool and puts it back; a proxy that timed out or lost its connection is
closed instead of returned, and a fresh one is made on demand. Reusing
started proxies is about twice as fast as starting one per request.
A backend error also closes every idle proxy: a broker member that went
took the connections of those connected to it, which no one would notice
before using them (each then costing a client its RPC timeout); the next
ones connect to the members still running. The proxies fail fast
(gateway/rpc_failfast.py), and a 503 says when to try again (Retry-After).
At most `size` proxies are open at once: under gunicorn's gevent worker a
burst of requests (500 event streams opening) would otherwise open a proxy,
an AMQP connection and a reply queue each; they wait for a free one instead.
Works the same under gunicorn's gthread and gevent workers and under eventlet (tests).
"""
import contextlib
import logging
import queue
import socket
import threading
import time
from urllib.parse import urlsplit

from amqp.exceptions import AMQPError
from kombu.exceptions import OperationalError
from nameko.exceptions import RemoteError, RpcTimeout, UnknownService

from convertix.errors import ConvertixError
from gateway.broker_members import Members, green_bound
from gateway.rpc_failfast import FailFastRpcProxy, with_host
from infra.logs import context as log_context

log = logging.getLogger(__name__)

EXTENSION = "convertix.rpc"
# the pool that accepts jobs (gateway/jobs.py) and checks revocations in front
# of every request (gateway/auth.py): GATEWAY.accept_rpc_timeout_s
ACCEPT_POOL = "convertix.rpc.accept"



class CallDeadline(Exception):
    """A call (starting a proxy, publishing, waiting for the reply) outlasted its
    pool's timeout, wherever it waited."""


def green_timer():
    """start(seconds, exc): gevent's or eventlet's Timeout, started, whichever
    patched the socket module (a wait it cuts raises `exc` in the waiting green
    thread); None under plain threads."""
    try:
        from gevent import monkey
        if monkey.is_module_patched("socket"):
            import gevent
            return gevent.Timeout.start_new
    except ImportError:
        pass
    try:
        from eventlet import patcher
        if patcher.is_monkey_patched("socket"):
            import eventlet
            return eventlet.Timeout
    except ImportError:
        pass
    return None


@contextlib.contextmanager
def deadline(seconds, start_timer):
    """CallDeadline in this green thread once `seconds` have passed, wherever it
    waits. Kombu and py-amqp wait without a limit for a channel's opening, a
    queue's declaration and a consumer's start; against a broker member that
    accepts a connection and then does not answer (one whose cluster peer just
    went), a request waited there past the client's patience."""
    if start_timer is None:
        yield
        return
    timer = start_timer(seconds, CallDeadline(f"no answer within {seconds:g} s"))
    try:
        yield
    finally:
        timer.cancel()


# Errors that mean "the backend is not there": 503, and the proxy is discarded.
# AMQPError: the broker's own refusals (a member still starting refuses the
# vhost, one stopping forces the connection closed) are not OSErrors.
BACKEND_ERRORS = (RpcTimeout, UnknownService, OperationalError, ConnectionError,
                  socket.error, OSError, AMQPError, CallDeadline)
# Errors raised inside a service that mean its database is not there: 503 too.
REMOTE_BACKEND_ERRORS = frozenset({"OperationalError", "InterfaceError",
                                   "DisconnectionError", "TimeoutError"})
# A 503 of ours says: try again in a second (on this gateway or another).
RETRY_AFTER_S = 1
# A proxy whose calls timed out this many times in a row is abandoned.
TIMEOUTS_IN_A_ROW = 2


def unavailable(message):
    """BACKEND_UNAVAILABLE (503) with Retry-After."""
    exc = ConvertixError(message, code="BACKEND_UNAVAILABLE")
    exc.retry_after_s = RETRY_AFTER_S
    return exc


class RpcPool:
    """`name` and `timeout` allow a second pool with a short timeout (readiness)."""

    def __init__(self, app=None, name=EXTENSION, timeout=None):
        self.name = name
        self.timeout = timeout
        if app is not None:
            self.init_app(app)

    def init_app(self, app):
        self.nameko_config = {"AMQP_URI": app.config["AMQP_URI"]}
        broker = urlsplit(app.config["AMQP_URI"])
        self._members = Members(broker.hostname or "localhost", broker.port or 5672,
                                bounded=green_bound)
        self.timeout = float(self.timeout or app.config["RPC_TIMEOUT_S"])
        self.size = int(app.config["RPC_POOL_SIZE"])
        self._idle = queue.LifoQueue()
        self._open = threading.BoundedSemaphore(self.size)  # proxies checked out or idle
        self._start_timer = green_timer()
        app.extensions[self.name] = self

    @contextlib.contextmanager
    def client(self):
        """A started cluster proxy for this request: `with pool.client() as rpc:`.
        Everything from the checkout to the reply has one deadline, the timeout."""
        # a second past the reply wait's own timeout: a service merely slow
        # ends as RpcTimeout between frames, and its proxy serves again
        with deadline(self.timeout + 1, self._start_timer):
            with self._client() as proxy:
                yield proxy

    @contextlib.contextmanager
    def _client(self):
        proxy = self._checkout()
        proxy.set_context(log_context.to_nameko())  # this request's trace, user and job
        healthy = True
        try:
            yield proxy.proxy
        except RpcTimeout as exc:
            # the connection is fine (a late reply is dropped when it comes):
            # the proxy is kept, as are the others; but not after a second
            # timeout in a row: its replies may never come (a cluster whose
            # members disagree on its reply queue's binding drops them), and
            # kept, it would cost every call it serves the whole timeout
            proxy.timeouts += 1
            healthy = proxy.timeouts < TIMEOUTS_IN_A_ROW
            raise unavailable("a backend service is unavailable (RpcTimeout)") from exc
        except BACKEND_ERRORS as exc:
            healthy = False
            log.warning("an RPC call failed on %s: %r", proxy.peer, exc)
            if not isinstance(exc, (UnknownService, RpcTimeout, CallDeadline)):
                # its connection broke: that member is shunned a while
                self._members.failed(proxy.peer)
            if not isinstance(exc, UnknownService):  # no consumer: the broker is fine
                self._drop_idle(proxy.peer)
            raise unavailable(f"a backend service is unavailable ({type(exc).__name__})") from exc
        except RemoteError as exc:
            if exc.exc_type in REMOTE_BACKEND_ERRORS:
                raise unavailable(f"a backend is unavailable ({exc.exc_type})") from exc
            raise
        else:
            proxy.timeouts = 0
        finally:
            self._checkin(proxy, healthy)

    def call(self, service, method, *args, **kwargs):
        with self.client() as rpc:
            return getattr(getattr(rpc, service), method)(*args, **kwargs)

    def _checkout(self):
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        # None idle: open one if fewer than `size` are open, else wait for one back.
        deadline = time.monotonic() + self.timeout
        while not self._open.acquire(timeout=0.05):
            try:
                return self._idle.get(timeout=0.05)
            except queue.Empty:
                if time.monotonic() > deadline:
                    raise unavailable("every RPC connection stayed busy") from None
        address = None
        try:
            # the name's lookup too may be cut by the deadline (Docker's DNS
            # waits for its upstream where no member runs yet)
            address = self._members.pick()
            config = dict(self.nameko_config)
            if address is not None:
                config["AMQP_URI"] = with_host(config["AMQP_URI"], address)
            return _StartedProxy(config, self.timeout)
        except BaseException as exc:
            self._members.failed(address)
            # the slot is given back whatever went wrong: a slot lost per
            # failed start would leave the pool with none after `size`
            self._open.release()
            if not isinstance(exc, BACKEND_ERRORS):
                raise
            log.warning("starting an RPC proxy failed: %r", exc)
            raise unavailable(f"the message broker is unavailable ({type(exc).__name__})") from exc

    def _checkin(self, proxy, healthy):
        if healthy:
            self._idle.put(proxy)
        else:
            proxy.abandon()
            self._open.release()

    def _drop_idle(self, peer):
        """Abandon the idle proxies connected to the broker member `peer` (an
        address; None: every one). A member that went took their connections,
        which no one would notice before using them. Those on the other members
        stay: a new proxy declares a reply queue, which a cluster that just lost
        a member may hold for tens of seconds."""
        kept = []
        while True:
            try:
                proxy = self._idle.get_nowait()
            except queue.Empty:
                break
            if peer is None or proxy.peer in (None, peer):
                proxy.abandon()
                self._open.release()
            else:
                kept.append(proxy)
        for proxy in reversed(kept):
            self._idle.put(proxy)

    def close(self):
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return
            self._open.release()


class _StartedProxy:
    timeouts = 0    # its calls that ended in RpcTimeout, in a row

    def __init__(self, config, timeout):
        self._cluster = FailFastRpcProxy(config, timeout)
        try:
            self.proxy = self._cluster.start()
        except BaseException:   # its connections, half set up, go now
            self.abandon()
            raise
        self.peer = self._cluster.peer()

    def set_context(self, data):
        """The context data the next calls send (nameko 2.14 keeps it on the proxy's
        worker context, which lives as long as the proxy: the pool reuses proxies)."""
        sent = self._cluster._worker_ctx.data
        sent.clear()
        sent.update(data)

    def close(self):
        try:
            self._cluster.stop()
        except Exception:  # closing a broken connection may fail too; it is gone either way
            log.debug("error while closing an RPC proxy", exc_info=True)

    def abandon(self):
        """Close without the broker's handshake, which waits on a peer that may be gone."""
        try:
            self._cluster.abandon()
        except Exception:
            log.debug("error while abandoning an RPC proxy", exc_info=True)


def rpc_pool(app, name=EXTENSION):
    return app.extensions[name]
