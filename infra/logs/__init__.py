"""Convertix's logs: ECS JSON, with the job's context, searchable by job id.

- `context`: the fields every line carries (trace id, job id, task index,
  user id), bound per request or Nameko worker, and how they travel in
  Nameko context data;
- `ecs`: the ECS JSON formatter;
- `store`: the local store (ndjson files, one per process) and its search;
- `spool`, `shipper`: shipping to Elasticsearch off the request path, through
  a bounded memory buffer and a disk spool;
- `search`: one query, one result shape, for both backends;
- `setup`: the settings (config.yaml `LOGS`) and the logging handler.
"""
