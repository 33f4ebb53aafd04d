"""The scaler's Prometheus metrics (served on SCALER.metrics_port).

One scaler process per deployment, so the default registry is enough
(no multiprocess mode here)."""
from prometheus_client import Counter, Gauge, start_http_server

BACKLOG = Gauge("convertix_scaler_backlog_tasks",
                "Conversion queue backlog seen by the scaler", ["kind"])
WORK = Gauge("convertix_scaler_backlog_work_seconds",
             "Estimated CPU-seconds of the unfinished tasks")
CONSUMERS = Gauge("convertix_scaler_queue_consumers", "Consumers on the conversion queue")
DESIRED = Gauge("convertix_scaler_desired_replicas", "Replicas the policy asks for")
ACTUAL = Gauge("convertix_scaler_actual_replicas", "Replicas running, read back from the backend")
DECISIONS = Counter("convertix_scaler_decisions", "Scaling decisions", ["direction"])
ERRORS = Counter("convertix_scaler_errors", "Polls that failed (broker or backend trouble)")


def record(obs, decision):
    BACKLOG.labels("ready").set(obs.ready)
    BACKLOG.labels("unacked").set(obs.unacked)
    WORK.set(obs.work_s or 0)
    CONSUMERS.set(obs.consumers)
    DESIRED.set(decision.desired)
    ACTUAL.set(obs.replicas)
    DECISIONS.labels(decision.direction).inc()


def serve(port, addr="0.0.0.0"):
    """Start the /metrics HTTP server; returns (server, thread) or None when port is 0."""
    if not port:
        return None
    return start_http_server(int(port), addr=addr)
