"""Real receivers for webhook tests, on 127.0.0.1: an HTTP one that records
every request and answers with scripted statuses (then 200), optionally over
TLS; bare TCP ones that greet and hang up, or never answer."""
import http.server
import socket
import threading
import time


class Receiver:
    def __init__(self, statuses=(), host="127.0.0.1", ssl_context=None):
        self.requests = []          # [{"path", "headers", "body", "at" (epoch seconds)}]
        self.statuses = list(statuses)
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers),
                                              "body": body, "at": time.time()})
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                if status in (301, 302, 307, 308):
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        server_class = http.server.ThreadingHTTPServer
        if ":" in host:  # an IPv6 address
            server_class = type("Server6", (server_class,), {"address_family": socket.AF_INET6})
        self.server = server_class((host, 0), Handler)
        if ssl_context is not None:
            self.server.socket = ssl_context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, host="127.0.0.1", path="/hook", scheme="http"):
        host = f"[{host}]" if ":" in host else host
        return f"{scheme}://{host}:{self.port}{path}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


class Listener:
    """A bare TCP server on 127.0.0.1: `handle(conn)` for each connection
    (a non-HTTP service's greeting, a black hole that never answers).

    Its accept loop ends, and closes the socket, in its own thread: under
    eventlet (nameko test), a socket closed while another greenthread waits
    in accept() can leave the hub a reader on a number the next socket reuses.
    """

    def __init__(self, handle):
        self.handle, self.connections = handle, []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self._stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            while not self._stopping.is_set():
                try:
                    conn, _ = self.sock.accept()
                except socket.timeout:
                    continue
                self.connections.append(conn)
                self.handle(conn)
        finally:
            self.sock.close()

    def close(self):
        self._stopping.set()
        self.thread.join(10)
        for conn in self.connections:
            conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def speaker(greeting):
    """A Listener that says `greeting` and hangs up, as an SSH or Redis server greets."""
    def greet(conn):
        conn.sendall(greeting)
        conn.close()
    return Listener(greet)


def black_hole():
    """A Listener that accepts every connection and never answers nor closes it."""
    return Listener(lambda conn: None)
