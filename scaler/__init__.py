"""The auto-scaler: converter replicas follow the conversion queue.

policy.py (the pure decision), cost.py (pricing the backlog), loop.py (one
poll), service.py + provider.py (the Nameko service, `scaler.status()`),
metrics.py (Prometheus), backends/ (`local` processes, `swarm` service).
See docs/DESIGN.md, "Scaling converters".
"""
