"""Concurrent /convert requests per user.

/convert holds a gateway connection until the result is ready (up to
GATEWAY.sync_convert_timeout_s), so each user may hold at most
GATEWAY.convert_concurrency_per_user of them at once; one more is 429
RATE_LIMITED with `Retry-After: sync_convert_timeout_s` (a held one has
surely ended by then; POST /jobs never holds a connection and is not counted).

The count lives in the rate limits' store (Redis: shared by every gateway
process and replica), incremented on entry and decremented on exit. The key
expires SLOT_TTL_S after it was created, so slots of a process killed
mid-request are given back; the count is thus a bound held for as long as
requests last, not an exact ledger. If the store is unreachable, requests
pass (as the rate limits fall back rather than refuse).
"""
import contextlib
import logging

from flask import current_app

from gateway.errors import too_many
from gateway.limits import limiter

log = logging.getLogger(__name__)

# longer than a /convert may last (sync_convert_timeout_s and the upload)
SLOT_TTL_S = 120


@contextlib.contextmanager
def convert_slot(user_id):
    key = f"{current_app.config['RATE_LIMIT_PREFIX']}:convert:{user_id}"
    cap = int(current_app.config["CONVERT_CONCURRENCY_PER_USER"])
    try:
        storage = limiter.storage
        held = storage.incr(key, SLOT_TTL_S)
    except Exception:
        log.warning("convert slots: store unreachable; not counted", exc_info=True)
        yield
        return
    try:
        if held > cap:
            raise too_many(
                f"at most {cap} /convert requests at once per user; wait for one, or POST /jobs",
                current_app.config["SYNC_CONVERT_TIMEOUT_S"], concurrent=cap)
        yield
    finally:
        with contextlib.suppress(Exception):
            storage.incr(key, SLOT_TTL_S, amount=-1)
