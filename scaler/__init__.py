"""Converter autoscaling: not built yet.

Planned (its own issue): watch the conversion queue (constants.CONVERT_QUEUE)
and scale converter workers, as local processes or a Docker Swarm service.
Until then `make run` starts a fixed number of converters (CONVERTER_WORKERS).
"""
