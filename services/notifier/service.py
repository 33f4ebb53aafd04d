"""Notifier: posts a final job's document to its callback_url, signed, retried.

A switchboard: the event handler records the delivery (one per job), the
timer picks up the deliveries that are due, and each attempt is a pure
`http.post()` whose outcome the store records with the next attempt's time
(`schedule.retry_delay`). Its own service and queue: a slow receiver holds a
notifier greenthread, never the jobs service or a converter. Attempts run in
the process's attempt pool (dispatcher.py), not in the workers that handle
events, and are picked fairly (fairness.py): a receiver that never answers
holds its owner's attempt slots, not everyone's.
"""
import json
import logging
import random
import time
from datetime import timedelta

import eventlet
from nameko.events import event_handler
from nameko.rpc import RpcProxy, rpc
from nameko.timer import timer

from convertix import signature
from convertix.contract import (
    ACCOUNTS_SERVICE,
    JOB_FINAL,
    JOB_WEBHOOK_DUE,
    JOBS_SERVICE,
    NOTIFIER_SERVICE,
)
from convertix.errors import NotFound
from infra.config.schema import NOTIFIER, WEBHOOK_ALLOW_PRIVATE_KEY, read_value
from infra.metrics import WEBHOOK_ATTEMPTS
from infra.nameko.dependencies import ConfigProvider, Settings
from infra.nameko.logcontext import LogContext
from infra.nameko.metrics import ServiceMetrics
from infra.nameko.obsolete import ObsoleteQueues
from services.notifier import fairness, http
from services.notifier.dependencies import Deliveries
from services.notifier.dispatcher import Attempts
from services.notifier.models import Base, utcnow
from services.notifier.schedule import Backoff, retry_delay

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 1.0        # how often due retries are looked for
SECRET_LOOKUP_TIMEOUT_S = 10
JOB_HEADER = "X-Convertix-Job"
OWNER_GONE = "owner_gone"  # the attempt's error when the job's owner was removed


# nameko's queue for this service's handler of every job_changed, in versions
# before job_webhook_due: nothing consumes it now (infra/nameko/obsolete.py)
OBSOLETE_QUEUE = f"evt-{JOBS_SERVICE}-job_changed--{NOTIFIER_SERVICE}.job_changed"


class NotifierService:
    name = NOTIFIER_SERVICE

    deliveries = Deliveries(Base)
    attempts = Attempts()
    settings = Settings(NOTIFIER)
    config = ConfigProvider()
    accounts = RpcProxy(ACCOUNTS_SERVICE)
    log_context = LogContext()
    metrics = ServiceMetrics()
    obsolete_queues = ObsoleteQueues(OBSOLETE_QUEUE)

    @event_handler(JOBS_SERVICE, JOB_WEBHOOK_DUE)
    def webhook_due(self, payload):
        document, url = payload.get("document") or {}, payload.get("callback_url")
        if document.get("status") not in JOB_FINAL or not url:
            return
        job_id = payload["job_id"]
        self.log_context.bind(job_id=job_id, user_id=payload["user_id"])
        if self.deliveries.create(job_id, payload["user_id"], url, _body(document), utcnow()):
            log.info("webhook for job %s: pending", job_id)
            self._start_due()  # the first attempt at once, not at the next tick

    @timer(interval=POLL_INTERVAL_S)
    def retry_due(self):
        self._start_due()

    @rpc
    def deliveries_of(self, job_id, user_id):
        return self.deliveries.document(job_id, user_id)

    @rpc
    def redeliver(self, job_id, user_id, document=None):
        """A new round of attempts, due now: the next tick sends it (within
        POLL_INTERVAL_S), so the caller (a gateway thread) does not wait on
        the receiver. `document`, the job's current one, makes the delivery
        if none was made (the job ended before this notifier ran)."""
        now = utcnow()
        if not self.deliveries.redeliver(job_id, user_id, now, int(self.settings["max_rounds"])):
            url = (document or {}).get("callback_url")
            if not url or document.get("status") not in JOB_FINAL:
                raise NotFound("the job has no webhook (no callback_url, or not final yet)")
            self.deliveries.create(job_id, user_id, url, _body(document), now)
        return self.deliveries.document(job_id, user_id)

    # --- helpers -----------------------------------------------------------

    def _start_due(self):
        """Claim the due deliveries that may start now (fairness.pick) and hand
        them to the attempt pool; returns at once, never waits on a receiver."""
        limits = fairness.Limits.from_config(self.settings)
        lease_s = float(self.settings["timeout_s"]) + 30  # a killed attempt is retried then
        pool = self.attempts
        with pool.picking:
            due = self.deliveries.due(utcnow(), int(self.settings["batch"]), limits.per_user,
                                      skip_users=pool.in_flight.busy_users(limits))
            candidates = [(job_id, user, fairness.host_key(url)) for job_id, user, url in due]
            claimed = []
            for job_id, user, host in fairness.pick(candidates, pool.in_flight, limits):
                delivery = self.deliveries.claim(job_id, utcnow(), lease_s)
                if delivery:
                    claimed.append((delivery, host))
                else:  # another notifier process took it meanwhile
                    pool.release(user, host)
            secrets = self._secrets({delivery["user_id"] for delivery, _host in claimed})
            for delivery, host in claimed:
                pool.start(delivery["user_id"], host, self._send_logged, delivery, secrets)

    def _secrets(self, user_ids):
        """user id -> webhook secret; NotFound (user gone) -> None; absent: not known now."""
        found = {}
        for user_id in user_ids:
            try:
                with eventlet.Timeout(SECRET_LOOKUP_TIMEOUT_S):
                    found[user_id] = self.accounts.get_user(user_id)["webhook_secret"]
            except NotFound:
                found[user_id] = None
            except (Exception, eventlet.Timeout):
                log.warning("webhook secret of user %s not available now", user_id, exc_info=True)
        return found

    def _send_logged(self, delivery, secrets):
        try:
            self._send(delivery, secrets)
        except Exception:  # e.g. the database went away: the lease ends, it is tried again
            log.exception("webhook for job %s: attempt not recorded", delivery["job_id"])

    def _send(self, delivery, secrets):
        job_id, user_id, now = delivery["job_id"], delivery["user_id"], utcnow()
        if user_id not in secrets:  # accounts did not answer: later, and no attempt spent
            self.deliveries.postpone(job_id, now + timedelta(seconds=self.backoff.base_delay_s), now)
            return
        if secrets[user_id] is None:
            result = {"http_status": None, "error": OWNER_GONE,
                      "latency_ms": 0.0, "outcome": http.FAILED}
        else:
            body, secret = delivery["body"].encode(), secrets[user_id]
            # signed per attempt: webhook-timestamp is now, so a receiver can refuse replays
            headers = {signature.HEADER: signature.sign(secret, body), JOB_HEADER: job_id,
                       **signature.standard_headers(secret, signature.message_id(job_id),
                                                    time.time(), body)}
            result = http.post(delivery["url"], body, headers, float(self.settings["timeout_s"]),
                               read_value(self.config, WEBHOOK_ALLOW_PRIVATE_KEY))
        WEBHOOK_ATTEMPTS.labels(result["outcome"]).inc()
        delay = retry_delay(self.backoff, delivery["attempts"] + 1, random.random())
        retry_at = utcnow() + timedelta(seconds=delay) if delay is not None else None
        status = self.deliveries.record(delivery, now, result, retry_at, utcnow())
        log.info("webhook for job %s, attempt %d: %s -> %s", job_id, delivery["attempts"] + 1,
                 result["error"] or result["http_status"], status)

    @property
    def backoff(self):
        return Backoff.from_config(self.settings)


def _body(document):
    """The exact bytes that are signed and sent (kept, so every attempt sends the same)."""
    return json.dumps(document, separators=(",", ":"))
