"""Sending webhook deliveries from the outbox, off the requests that caused them.

One process of the box (the holder of the `webhook-delivery` lease) looks for due deliveries every
second, and at once when an attempt ends or a test is queued. It sends them on a few sender
threads, never on a request thread (the dashboard's test button only queues), with at most one
attempt under way per webhook: a receiver that answers slowly holds one sender for at most
`OTABOX_WEBHOOK_TIMEOUT_SECONDS` (a wall-clock deadline for the whole attempt, security/egress.py)
while the other webhooks' deliveries go out on the other senders. Each attempt first claims its
delivery (a compare-and-set that moves its next attempt past the attempt's own deadline), so no two
processes, or two rounds, send the same attempt; a process killed mid-attempt leaves the delivery to
be retried after that. A failed attempt is retried with exponential backoff (by default 6 attempts
over about an hour: after 30 s, 90 s, 4.5 min, 13.5 min and 40.5 min); a test is tried once. The
receiver tells attempts of one delivery apart from new events by `X-Otabox-Delivery`."""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from .. import __version__
from ..core import outbox, webhooks
from ..errors import Conflict
from ..security import egress
from ..store.models import Delivery, OutboxEvent, database, utcnow
from .leased import LeasedLoop

log = logging.getLogger("otabox")
POLL_SECONDS = 1.0
BATCH = 50
SENDERS = 4
"""Sender threads: as many webhooks as this are attempted at once, one attempt each."""
KEEP_DAYS = 30
PRUNE_EVERY_SECONDS = 3600


class WebhookSender:
    def __init__(self, box):
        self.box = box
        config = box.config
        self.timeout = config.webhook_timeout_seconds
        self.max_attempts = config.webhook_max_attempts
        self.retry_seconds = config.webhook_retry_seconds
        self.allow_private = config.webhook_allow_private
        self.loop = LeasedLoop(box.db, "webhook-delivery", POLL_SECONDS, self.deliver_due)
        self._pool = ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="otabox-webhook")
        self._sending: set[int] = set()
        """Webhooks with an attempt under way."""
        self._sending_lock = threading.Lock()
        self._pruned_at = 0.0

    def backoff(self, attempts: int) -> float:
        """Seconds before attempt `attempts + 1`: the base, tripled after each failure."""
        return self.retry_seconds * 3 ** (attempts - 1)

    def start(self) -> None:
        self.loop.start()

    def stop(self) -> None:
        self.loop.stop()
        self._pool.shutdown(wait=True)

    def deliver_due(self) -> list[Future]:
        """One round: start an attempt for each webhook that has a due delivery and none under way,
        while a sender is free. Returns the attempts started (each future's result: whether it was
        sent); the round does not wait for them."""
        started = []
        for _ in range(SENDERS):
            with self._sending_lock:
                free, sending = SENDERS - len(self._sending), list(self._sending)
            picked: dict[int, str] = {}
            if free > 0:
                query = (Delivery.select(Delivery.id, Delivery.webhook)
                         .where((Delivery.status == webhooks.PENDING) & (Delivery.next_attempt_at <= utcnow())))
                if sending:
                    query = query.where(Delivery.webhook.not_in(sending))
                for row in query.order_by(Delivery.next_attempt_at, Delivery.created_at).limit(BATCH):
                    picked.setdefault(row.webhook_id, row.id)
                    if len(picked) == free:
                        break
            if not picked:
                break
            with self._sending_lock:
                self._sending.update(picked)
            started += [self._pool.submit(self._send, webhook_id, delivery_id)
                        for webhook_id, delivery_id in picked.items()]
        if time.monotonic() - self._pruned_at > PRUNE_EVERY_SECONDS:
            self._pruned_at = time.monotonic()
            prune()
        return started

    def _send(self, webhook_id: int, delivery_id: str) -> bool:
        try:
            with self.box.db.connection_context():
                delivery = self.claim(delivery_id)
                if delivery is None:
                    return False
                self.attempt(delivery)
                return True
        finally:
            with self._sending_lock:
                self._sending.discard(webhook_id)
            self.loop.wake()  # the webhook's next delivery, if one is due, goes now

    def claim(self, delivery_id: str) -> Delivery | None:
        """Take the next attempt of a due delivery, or None when another round or process has it."""
        now = utcnow()
        taken = (Delivery.update(next_attempt_at=now + dt.timedelta(seconds=self.timeout + 5))
                 .where((Delivery.id == delivery_id) & (Delivery.status == webhooks.PENDING)
                        & (Delivery.next_attempt_at <= now)).execute())
        return Delivery.get_by_id(delivery_id) if taken else None

    def attempt(self, delivery: Delivery) -> Delivery:
        """POST one delivery and record the outcome (a test event is never retried)."""
        webhook, event = delivery.webhook, delivery.outbox_event
        is_test = event.event == outbox.TEST_EVENT
        if not webhook.is_active and not is_test:
            outcome = egress.Outcome(None, 0.0, "the webhook was deactivated")
            return webhooks.record_attempt(delivery, outcome, 1, self.backoff)
        body = webhooks.render(webhook, event)
        try:
            secret = webhooks.secret_of(webhook, self.box.sealer)
        except ValueError as exc:
            return webhooks.record_attempt(delivery, egress.Outcome(None, 0.0, str(exc)), 1, self.backoff)
        headers = webhooks.headers(webhook, event, delivery.id, body, secret, __version__)
        outcome = egress.post(webhook.url, body, headers, self.timeout, self.allow_private)
        if not outcome.ok:
            log.info("webhook %d delivery %s (%s) failed: %s", webhook.id, delivery.id, event.event, outcome.error)
        return webhooks.record_attempt(delivery, outcome, 1 if is_test else self.max_attempts, self.backoff)

    def queue_test(self, webhook) -> Delivery:
        """`POST /webhooks/:id/test`: a `webhook.test` delivery, tried once by the delivery worker;
        the request returns at once with it pending."""
        if not self.box.config.webhook_delivery:
            raise Conflict("webhook delivery is turned off on this server (OTABOX_WEBHOOK_DELIVERY=0)",
                           code="webhook_delivery_off")
        delivery = webhooks.queue_test(webhook)
        self.loop.wake()
        return delivery


def prune(keep_days: int = KEEP_DAYS) -> int:
    """Forget finished deliveries (and events left without any) older than `keep_days`."""
    cutoff = utcnow() - dt.timedelta(days=keep_days)
    with database.atomic():
        removed = Delivery.delete().where(
            (Delivery.status != webhooks.PENDING) & (Delivery.finished_at < cutoff)).execute()
        orphans = OutboxEvent.select(OutboxEvent.id).where(
            (OutboxEvent.created_at < cutoff)
            & ~OutboxEvent.id.in_(Delivery.select(Delivery.outbox_event)))
        OutboxEvent.delete().where(OutboxEvent.id.in_(orphans)).execute()
    return removed
