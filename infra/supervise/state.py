"""The supervised components' states, asked of supervisord.

supervisord gives each process it starts SUPERVISOR_SERVER_URL (its
socket), and the gateway's workers inherit it: so under `make run` the
gateway can ask for every component's state, and elsewhere (the tests'
stacks, the Docker deployment) there is nothing to ask. Over the socket
with a short timeout: /readyz must answer quickly whatever happens.
"""
import http.client
import os
import socket
import xmlrpc.client

SERVER_URL_ENV = "SUPERVISOR_SERVER_URL"
TIMEOUT_S = 2
# supervisord's states that mean "given up on it" (not started again by itself)
FAILING = frozenset({"FATAL"})


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path, timeout):
        super().__init__()
        self.socket_path, self.timeout = path, timeout

    def make_connection(self, host):
        return _UnixConnection(self.socket_path, self.timeout)


def server_url(env=None):
    """supervisord's unix socket URL from the environment, or None when not supervised."""
    url = (os.environ if env is None else env).get(SERVER_URL_ENV) or ""
    return url if url.startswith("unix://") else None


def supervisor(url, timeout=TIMEOUT_S):
    """supervisord's XML-RPC interface (`.getAllProcessInfo()`, `.getProcessInfo(name)`)."""
    proxy = xmlrpc.client.ServerProxy(
        "http://localhost", transport=_UnixTransport(url[len("unix://"):], timeout))
    return proxy.supervisor


def states(url, timeout=TIMEOUT_S):
    """{component: supervisord's state name (RUNNING, BACKOFF, FATAL...)}."""
    return {info["name"]: info["statename"]
            for info in supervisor(url, timeout).getAllProcessInfo()}


def failing(component_states):
    """The components supervisord gave up on, sorted."""
    return sorted(name for name, state in component_states.items() if state in FAILING)
