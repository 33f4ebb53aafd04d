"""The last document of each job this process built, for reads until its next change.

A job's document follows from its rows alone, and every change of them moves
the job's `seq` in the same transaction (the events, the uploads, a cancel,
the queue positions), so the document built at seq N is the job's document
for as long as its seq is N. A client that polls `GET /jobs/<id>` (every
0.2 s in bench/batches.py, as a script following its job would) made the
service load the job with every task and build the document again at each
poll: a sixth of its CPU on a batch of 50-file jobs. Now a read checks the
seq (one row) and takes the document this process built after the change,
when it has it.

Kept per process and bounded (least recently used out). Two jobs processes
each keep their own; the seq check makes either right. `Documents` is the
plain cache, `DocumentCache` the service's one per process.
"""
import collections
import threading

from nameko.extensions import DependencyProvider

MAX_DOCUMENTS = 512  # a 50-task document is ~20 kB


class Documents:
    def __init__(self, max_documents=MAX_DOCUMENTS):
        self._docs = collections.OrderedDict()  # job id -> its document
        self._max = max_documents
        self._lock = threading.Lock()

    def get(self, job_id, seq):
        """The document of `job_id` at `seq`, or None."""
        with self._lock:
            doc = self._docs.get(job_id)
            if doc is None or doc["seq"] != seq:
                return None
            self._docs.move_to_end(job_id)
            return doc

    def put(self, document):
        """Keep a document built from committed rows (its own id and seq say which)."""
        with self._lock:
            kept = self._docs.get(document["id"])
            if kept is not None and kept["seq"] > document["seq"]:
                return  # a newer one is kept already
            self._docs[document["id"]] = document
            self._docs.move_to_end(document["id"])
            while len(self._docs) > self._max:
                self._docs.popitem(last=False)

    def __len__(self):
        return len(self._docs)


class DocumentCache(DependencyProvider):
    def setup(self):
        self.documents = Documents()

    def get_dependency(self, worker_ctx):
        return self.documents
