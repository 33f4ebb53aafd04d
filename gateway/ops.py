"""Operations endpoints: liveness and readiness."""
from flask import Blueprint, current_app, jsonify

from convertix.errors import ConvertixError
from gateway.rpc import RpcPool, rpc_pool

bp = Blueprint("ops", __name__)

READINESS_POOL = "convertix.rpc.readiness"
READINESS_TIMEOUT_S = 3  # a probe must answer quickly, whatever the API's RPC timeout


def init_app(app):
    RpcPool(app, name=READINESS_POOL, timeout=READINESS_TIMEOUT_S)

# What /readyz checks: name -> (service, method). The jobs and accounts
# services each answer `ping` by querying the database, so one answer proves
# the broker, the service and the database at once.
READINESS_CHECKS = {"jobs": ("jobs", "ping"), "accounts": ("accounts", "ping")}


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    checks = {}
    for name, (service, method) in READINESS_CHECKS.items():
        try:
            rpc_pool(current_app, READINESS_POOL).call(service, method)
            checks[name] = "ok"
        except ConvertixError as exc:
            checks[name] = exc.code
        except Exception as exc:  # a database error inside the service, say
            checks[name] = type(exc).__name__
    ready = all(value == "ok" for value in checks.values())
    return jsonify({"status": "ready" if ready else "unavailable", "checks": checks}), (
        200 if ready else 503)
