"""Log search: one query, one answer shape, from Elasticsearch or the local store.

The answer is `{"backend": "elasticsearch" | "local", "count": n, "items": [...]}`,
each item an ECS document exactly as it was logged, newest first: by
`@timestamp`, which has millisecond resolution, then by `event.sequence` (a
process's count of its lines), `process.pid` and `host.name`, so that both
backends break ties the same way and one process's lines keep the order they
were logged in. Lines missing one of these come after those that have it, as
Elasticsearch sorts a missing value; lines written before `event.sequence`
existed can still tie, and then come back in either order.

Matching:
- `service`, `level`, `job_id`, `trace_id`: exact (level without regard to case);
- `q`: every word must appear in the message (or the error's message or type).
  The local store matches words as substrings, ignoring case; Elasticsearch
  matches analysed words (`simple_query_string`, AND), which can differ for
  parts of words.
"""
import dataclasses

from convertix.errors import ConvertixError
from infra.logs.ecs import get_field

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_TEXT = 256
# (ECS field, its value where a line has none: below every real one) in the
# order the sort applies them, all descending
ORDER = (("@timestamp", ""), ("event.sequence", 0), ("process.pid", 0), ("host.name", ""))
# what Elasticsearch sorts a field as in a backing index that has no mapping
# of it yet (one made before the index template had the field)
UNMAPPED_TYPE = {"event.sequence": "long", "process.pid": "long", "host.name": "keyword"}
TEXT_FIELDS = ("message", "error.message", "error.type")
# query attribute -> ECS field, for the exact filters
EXACT = {"service": "service.name", "level": "log.level", "job_id": "convertix.job_id",
         "trace_id": "trace.id"}


@dataclasses.dataclass(frozen=True)
class LogQuery:
    q: str = ""
    service: str = ""
    level: str = ""
    job_id: str = ""
    trace_id: str = ""
    limit: int = DEFAULT_LIMIT

    @classmethod
    def from_args(cls, args):
        """From request arguments (a mapping of strings); BAD_REQUEST if one is wrong."""
        values = {}
        for name in ("q", *EXACT):
            value = (args.get(name) or "").strip()
            if len(value) > MAX_TEXT:
                raise ConvertixError(f"{name} is longer than {MAX_TEXT} characters",
                                     code="BAD_REQUEST", details={"field": name})
            values[name] = value.lower() if name == "level" else value
        raw = args.get("limit")
        try:
            limit = DEFAULT_LIMIT if raw in (None, "") else int(raw, 10)
        except ValueError:
            limit = None
        if limit is None or not 1 <= limit <= MAX_LIMIT:
            raise ConvertixError(f"limit must be an integer from 1 to {MAX_LIMIT}",
                                 code="BAD_REQUEST", details={"field": "limit"})
        return cls(limit=limit, **values)

    def filters(self):
        """{ECS field: value} of the exact filters given."""
        return {field: getattr(self, name) for name, field in EXACT.items() if getattr(self, name)}

    def exact_values(self):
        return list(self.filters().values())

    def words(self):
        return self.q.split()

    def matches(self, doc):
        for field, value in self.filters().items():
            found = get_field(doc, field)
            if found is None:
                return False
            found = str(found).lower() if field == "log.level" else str(found)
            if found != value:
                return False
        if self.q:
            text = " ".join(str(get_field(doc, f) or "") for f in TEXT_FIELDS).lower()
            return all(word.lower() in text for word in self.words())
        return True

    def to_elasticsearch(self):
        """The `_search` body for this query."""
        clauses = [{"term": {field: value}} for field, value in self.filters().items()]
        must = [{"simple_query_string": {"query": self.q, "fields": list(TEXT_FIELDS),
                                         "default_operator": "and"}}] if self.q else []
        return {"query": {"bool": {"filter": clauses, "must": must}},
                "sort": [{field: {"order": "desc", **({"unmapped_type": UNMAPPED_TYPE[field]}
                                                       if field in UNMAPPED_TYPE else {})}}
                         for field, _ in ORDER],
                "size": self.limit}


def newest_first_key(doc):
    """The order of an answer's items (descending), as the Elasticsearch sort above."""
    return tuple(_or(get_field(doc, field), missing) for field, missing in ORDER)


def _or(value, missing):
    return missing if value is None else value


def answer(backend, items):
    return {"backend": backend, "count": len(items), "items": items}


def search(settings, query):
    """Search Elasticsearch when `settings.elasticsearch_url` is set, else the local store."""
    if settings.elasticsearch_url:
        from infra.logs import elastic

        return answer("elasticsearch", elastic.search(settings, query))
    from infra.logs import store

    return answer("local", store.search(settings.dir, query))
