"""The deliveries table as a plain object: short transactions, one session each.

Sends happen outside any transaction, and several of them at once, so every
method opens its own session (`session_factory()`), never the worker's.
Claiming is a conditional UPDATE (`... WHERE next_attempt_at <= now`): of two
notifier processes (or greenthreads) that see the same due delivery, one
claims it; the claim moves `next_attempt_at` a lease ahead, so a notifier
killed mid-attempt leaves it to be tried again when the lease ends.
"""
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from convertix.errors import NotFound, NotReady, RedeliveryLimit
from services.notifier.models import DELIVERED, FAILED, PENDING, Delivery, DeliveryAttempt

FINAL_STATUS = {"delivered": DELIVERED, "failed": FAILED}  # attempt outcome -> delivery status


def _iso(value):
    return value.isoformat(timespec="milliseconds") + "Z" if value else None


class DeliveryStore:
    def __init__(self, session_factory):
        self.session_factory = session_factory

    def create(self, job_id, user_id, callback_url, body, now):
        """Record a pending delivery, due now. False if the job has one already."""
        with self.session_factory() as session:
            session.add(Delivery(job_id=job_id, user_id=user_id, callback_url=callback_url,
                                 body=body, status=PENDING, round=1, attempts=0,
                                 next_attempt_at=now, created_at=now, updated_at=now))
            try:
                session.commit()
            except IntegrityError:  # the event came twice: one delivery per job
                session.rollback()
                return False
        return True

    def due(self, now, limit, per_user, skip_users=()):
        """[(job_id, user_id, callback_url)] due now, oldest first, at most
        `per_user` of any one user and none of `skip_users` (whose attempts in
        flight are at their limit): a user with thousands due cannot fill the
        batch and hide another user's one delivery."""
        where = [Delivery.status == PENDING, Delivery.next_attempt_at <= now]
        if skip_users:
            where.append(Delivery.user_id.notin_(list(skip_users)))
        rank = func.row_number().over(partition_by=Delivery.user_id,
                                      order_by=(Delivery.next_attempt_at, Delivery.job_id))
        ranked = (select(Delivery.job_id, Delivery.user_id, Delivery.callback_url,
                         Delivery.next_attempt_at, rank.label("rank"))
                  .where(*where).subquery())
        with self.session_factory() as session:
            return [tuple(row) for row in session.execute(
                select(ranked.c.job_id, ranked.c.user_id, ranked.c.callback_url)
                .where(ranked.c.rank <= per_user)
                .order_by(ranked.c.next_attempt_at, ranked.c.job_id).limit(limit))]

    def claim(self, job_id, now, lease_s):
        """The delivery to attempt now (a dict), or None if it is not due or taken."""
        with self.session_factory() as session:
            claimed = session.execute(
                update(Delivery)
                .where(Delivery.job_id == job_id, Delivery.status == PENDING,
                       Delivery.next_attempt_at <= now)
                .values(next_attempt_at=now + timedelta(seconds=lease_s), updated_at=now))
            if claimed.rowcount != 1:
                session.rollback()
                return None
            session.commit()
            row = session.get(Delivery, job_id)
            return {"job_id": row.job_id, "user_id": row.user_id, "url": row.callback_url,
                    "body": row.body, "round": row.round, "attempts": row.attempts}

    def postpone(self, job_id, until, now):
        """Give a claimed delivery back without an attempt (its owner's secret was not at hand)."""
        with self.session_factory() as session:
            session.execute(update(Delivery).where(Delivery.job_id == job_id,
                                                   Delivery.status == PENDING)
                            .values(next_attempt_at=until, updated_at=now))
            session.commit()

    def record(self, claimed, started_at, result, retry_at, now):
        """Write the attempt, then the delivery's new state: delivered, failed,
        or pending until `retry_at` (None: no attempt left, so failed)."""
        number = claimed["attempts"] + 1
        status = FINAL_STATUS.get(result["outcome"], PENDING if retry_at else FAILED)
        with self.session_factory() as session:
            session.add(DeliveryAttempt(
                job_id=claimed["job_id"], round=claimed["round"], number=number, at=started_at,
                http_status=result["http_status"], error=result["error"],
                latency_ms=result["latency_ms"], outcome=result["outcome"]))
            # Only the round that was claimed: a redelivery meanwhile starts afresh.
            session.execute(
                update(Delivery)
                .where(Delivery.job_id == claimed["job_id"], Delivery.round == claimed["round"])
                .values(attempts=number, status=status, updated_at=now,
                        next_attempt_at=retry_at if status == PENDING else None))
            session.commit()
        return status

    def redeliver(self, job_id, user_id, now, max_rounds):
        """Start a new round of attempts, due now. False if the job has no delivery.

        NotReady while a round is pending (it would only add attempts to the
        same receiver), RedeliveryLimit after `max_rounds` rounds in all.
        """
        with self.session_factory() as session:
            row = session.execute(select(Delivery).where(Delivery.job_id == job_id)
                                  .with_for_update()).scalar_one_or_none()
            if row is None:
                return False
            if row.user_id != user_id:
                raise NotFound("no such job")
            if row.status == PENDING:
                raise NotReady("a round of attempts is pending: wait for it to end",
                               details={"status": PENDING,
                                        "next_attempt_at": _iso(row.next_attempt_at)})
            if row.round >= max_rounds:
                raise RedeliveryLimit(f"this job's webhook was sent in {row.round} rounds, "
                                      "the most allowed", details={"max_rounds": max_rounds})
            row.round, row.attempts, row.status = row.round + 1, 0, PENDING
            row.next_attempt_at, row.updated_at = now, now
            session.commit()
        return True

    def document(self, job_id, user_id):
        """The delivery and every attempt, oldest first (SPEC: GET /jobs/<id>/deliveries)."""
        with self.session_factory() as session:
            row = session.get(Delivery, job_id)
            if row is None or row.user_id != user_id:
                return {"job_id": job_id, "status": None, "callback_url": None,
                        "next_attempt_at": None, "attempts": []}
            attempts = session.execute(
                select(DeliveryAttempt).where(DeliveryAttempt.job_id == job_id)
                .order_by(DeliveryAttempt.id)).scalars()
            return {
                "job_id": job_id, "status": row.status, "callback_url": row.callback_url,
                "next_attempt_at": _iso(row.next_attempt_at) if row.status == PENDING else None,
                "attempts": [{"round": a.round, "attempt": a.number, "at": _iso(a.at),
                              "http_status": a.http_status, "error": a.error,
                              "latency_ms": a.latency_ms, "outcome": a.outcome}
                             for a in attempts],
            }
