"""A local HTTP server that answers like Elasticsearch 8 for what Convertix uses.

Elasticsearch itself cannot be installed on the machines these tests run on,
so the real `elasticsearch` client (8.x, as setup.cfg pins) talks over HTTP to
this: `GET /`, `_bulk` (POST or PUT; data streams take only `create`) and
`_search` (a `bool` of `term` filters and a `simple_query_string`, sorted by
the body's `sort` fields). Like a real 8.x server it answers with
`X-Elastic-Product: Elasticsearch` and refuses a client that asks for
`compatible-with=9`.

Faults for the tests: `stop()`/`start()` (connection refused on the same
port), `delay_s` (a slow server), `fail_requests` (statuses for whole
requests, e.g. 429), `fail_items` (per-item statuses in the next bulks) and
`poison` (a substring that makes an item fail for good, as a mapping error).
"""
import collections
import fnmatch
import http.server
import json
import re
import socket
import threading
import time

from infra.logs.ecs import get_field

VERSION = "8.19.0"
MAJOR = VERSION.split(".")[0]
COMPATIBLE = re.compile(r"compatible-with=(\d+)")


class FakeElasticsearch:
    def __init__(self, port=0, data_streams=("logs-*-*",)):
        self.port = port
        self.lock = threading.Lock()
        self.docs = []                    # (index, _id, source) in arrival order
        self.ids = set()
        self.requests = []                # (method, path, status)
        self.fail_requests = collections.deque()   # statuses for whole requests
        self.fail_items = collections.deque()      # statuses for single items
        self.poison = None
        self.delay_s = 0.0
        self.in_flight = 0                # requests being answered now
        self.data_streams = data_streams   # index templates with data_stream: {} (patterns)
        self._server = None
        self._thread = None
        self._connections = set()         # kept-alive client connections

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Close the port and every open connection, as a dead server would:
        clients get 'connection refused' until start()."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(10)
            self._server = None
        with self.lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # --- what arrived ---------------------------------------------------

    def sources(self, index=None):
        with self.lock:
            return [source for idx, _id, source in self.docs
                    if index is None or fnmatch.fnmatch(idx, index)]

    def count(self):
        with self.lock:
            return len(self.docs)

    # --- the API ----------------------------------------------------------

    def bulk(self, default_index, body):
        lines = [line for line in body.split(b"\n") if line.strip()]
        items, errors = [], False
        for action_line, source_line in zip(lines[::2], lines[1::2]):
            (op, meta), = json.loads(action_line).items()
            index = meta.get("_index") or default_index
            doc_id = meta.get("_id")
            data_stream = any(fnmatch.fnmatch(index, p) for p in self.data_streams)
            with self.lock:
                status, error = 201, None
                if self.fail_items:
                    status = self.fail_items.popleft()
                    error = {"type": "es_rejected_execution_exception" if status == 429
                             else "unavailable_shards_exception", "reason": "injected"}
                elif self.poison and self.poison.encode() in source_line:
                    status, error = 400, {"type": "document_parsing_exception",
                                          "reason": "injected mapping error"}
                elif data_stream and op != "create":
                    status, error = 400, {
                        "type": "illegal_argument_exception",
                        "reason": "only write ops with an op_type of create are allowed in "
                                  "data streams"}
                elif doc_id is not None and (index, doc_id) in self.ids:
                    status, error = 409, {"type": "version_conflict_engine_exception",
                                          "reason": f"[{doc_id}]: version conflict"}
                else:
                    self.ids.add((index, doc_id))
                    self.docs.append((index, doc_id, json.loads(source_line)))
            result = {"_index": f".ds-{index}-000001" if data_stream else index,
                      "_id": doc_id, "status": status}
            if error:
                result["error"] = error
                errors = errors or status != 409
            else:
                result["result"] = "created"
            items.append({op: result})
        return {"took": 1, "errors": errors, "items": items}

    def search(self, index, body):
        query = (body.get("query") or {}).get("bool", {})
        size = int(body.get("size", 10))
        hits = []
        for source in self.sources(index):
            if all(_term(source, clause["term"]) for clause in query.get("filter", [])) and \
                    all(_text(source, clause["simple_query_string"])
                        for clause in query.get("must", [])):
                hits.append(source)
        for field, order in reversed(_sorts(body)):  # stable sorts, last key first
            descending = order == "desc"
            # a document without the field comes last either way, as in Elasticsearch
            hits.sort(key=lambda s, f=field: ((get_field(s, f) is None) != descending,
                                              get_field(s, f)), reverse=descending)
        return {"took": 1, "timed_out": False,
                "hits": {"total": {"value": len(hits), "relation": "eq"},
                         "hits": [{"_index": index, "_source": s} for s in hits[:size]]}}


def _term(source, term):
    (field, value), = term.items()
    if isinstance(value, dict):
        value = value["value"]
    return get_field(source, field) == value


def _text(source, clause):
    text = " ".join(str(get_field(source, f) or "") for f in clause["fields"]).lower()
    return all(word.lower() in text for word in clause["query"].split())


def _sorts(body):
    """[(field, "asc" | "desc")] of the body's `sort`."""
    sorts = []
    for sort in body.get("sort") or []:
        (field, spec), = sort.items()
        sorts.append((field, spec.get("order", "asc") if isinstance(spec, dict) else spec))
    return sorts


def _handler(fake):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args):
            pass

        def setup(self):
            super().setup()
            with fake.lock:
                fake._connections.add(self.connection)

        def finish(self):
            with fake.lock:
                fake._connections.discard(self.connection)
            super().finish()

        def _answer(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type",
                             f"application/vnd.elasticsearch+json;compatible-with={MAJOR}")
            self.send_header("X-Elastic-Product", "Elasticsearch")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            with fake.lock:
                fake.requests.append((self.command, self.path, status))

        def _error(self, status, kind, reason):
            self._answer(status, {"error": {"type": kind, "reason": reason}, "status": status})

        def _handle(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            for header in ("Accept", "Content-Type"):
                wanted = COMPATIBLE.search(self.headers.get(header) or "")
                if wanted and wanted.group(1) not in (MAJOR, str(int(MAJOR) - 1)):
                    return self._error(400, "media_type_header_exception",
                                       f"Accept version must be either version {MAJOR} or "
                                       f"{int(MAJOR) - 1}, but found {wanted.group(1)}")
            if fake.delay_s:
                with fake.lock:
                    fake.in_flight += 1
                try:
                    time.sleep(fake.delay_s)
                finally:
                    with fake.lock:
                        fake.in_flight -= 1
            with fake.lock:
                failing = fake.fail_requests.popleft() if fake.fail_requests else None
            if failing:
                return self._error(failing, "es_rejected_execution_exception", "injected")
            path = self.path.split("?")[0].strip("/")
            parts = path.split("/") if path else []
            if not parts and self.command in ("GET", "HEAD"):
                return self._answer(200, {"name": "fake", "cluster_name": "convertix-test",
                                          "version": {"number": VERSION},
                                          "tagline": "You Know, for Search"})
            if parts and parts[-1] == "_bulk" and self.command in ("POST", "PUT"):
                index = parts[0] if len(parts) == 2 else None
                return self._answer(200, fake.bulk(index, body))
            if len(parts) == 2 and parts[1] == "_search" and self.command in ("GET", "POST"):
                return self._answer(200, fake.search(parts[0], json.loads(body or b"{}")))
            return self._error(404, "not_implemented", f"{self.command} /{path}")

        do_GET = do_POST = do_PUT = do_HEAD = _handle

    return Handler
