"""Operations endpoints: liveness and readiness."""
from flask import Blueprint, current_app, jsonify

from convertix.contract import ACCOUNTS_SERVICE, CONVERTER_SERVICE, JOBS_SERVICE
from convertix.errors import ConvertixError
from gateway.rpc import RpcPool, rpc_pool
from infra.supervise import state as supervised

bp = Blueprint("ops", __name__)

READINESS_POOL = "convertix.rpc.readiness"
READINESS_TIMEOUT_S = 3  # a probe must answer quickly, whatever the API's RPC timeout


def init_app(app):
    RpcPool(app, name=READINESS_POOL, timeout=READINESS_TIMEOUT_S)

# What /readyz checks: name -> (service, method, needed to be ready). The jobs
# and accounts services each answer `ping` by querying the database, so one
# answer proves the broker, the service and the database at once. Converters
# are reported but not required: a job accepted while none runs waits in the
# queue (and the scaler may run none when idle).
READINESS_CHECKS = {
    JOBS_SERVICE: (JOBS_SERVICE, "ping", True),
    ACCOUNTS_SERVICE: (ACCOUNTS_SERVICE, "ping", True),
    CONVERTER_SERVICE: (CONVERTER_SERVICE, "formats", False),
}


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    checks = {}
    for name, (service, method, _needed) in READINESS_CHECKS.items():
        try:
            rpc_pool(current_app, READINESS_POOL).call(service, method)
            checks[name] = "ok"
        except ConvertixError as exc:
            checks[name] = exc.code
        except Exception as exc:  # a database error inside the service, say
            checks[name] = type(exc).__name__
    ready = all(checks[name] == "ok" for name, (*_, needed) in READINESS_CHECKS.items() if needed)
    answer = {"status": "ready" if ready else "unavailable", "checks": checks}
    answer.update(_components())
    return jsonify(answer), 200 if ready else 503


def _components():
    """Under `make run` (supervisord): every component's state, and those
    supervisord gave up on by name. They do not decide readiness (the broker
    and the database do): a failing notifier or scaler leaves the API serving."""
    url = supervised.server_url()
    if url is None:
        return {}
    try:
        states = supervised.states(url)
    except Exception as exc:  # supervisord busy or gone: say so, answer anyway
        return {"components": {"supervisor": type(exc).__name__}, "failing": []}
    return {"components": states, "failing": supervised.failing(states)}
