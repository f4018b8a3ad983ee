"""The one way state changes: `with changing(actor, action, entity_type, entity_id, details) as change:`.

The block runs in one transaction. When it ends without an exception, the same transaction records
what the change tells: the audit entry (who did what to which entity), the webhook events the block
emitted (`change.emit`, through the outbox), and the change signal that makes every process serve
the new state. When it raises, nothing of it is written. Writing these by hand in each operation let
one forget the signal and leave devices served stale state, so `tests/test_architecture.py` checks
that nothing but this module bumps the signal or writes audit rows.

Which signal is the caller's choice (`signal=`), defaulting to the safe one:
- `SERVING`: apps, channels, bundles, releases, flags: the serving state moved (`bump_generation`);
- `DEVICE`: one device's overrides moved; the block names the device (`change.device = device`), which
  is stamped with the next device-change number so servers re-read that device alone;
- `None`: nothing devices see (people, tokens, webhooks, rollout policies and executions).

`app=` (an App or its id) names the app the change concerns, so each app's audit log can be read
alone (None: the box's own, e.g. people and tokens).

Changes nest: an operation made of several (a release that also links flags) opens them inside an
outer one or inside `database.atomic()`, and all commit or none."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from ..store.generation import bump_device_change, bump_generation
from ..store.models import App, AuditEntry, Device, database
from . import outbox

SERVING, DEVICE = "serving", "device"


class Change:
    """What one change records when its block succeeds. The block may complete what was not known
    when it began: `entity_id` (of a row it created), `details`, the `device` of a DEVICE change."""

    def __init__(self, actor: str | None, action: str | None, entity_type: str | None, entity_id,
                 details: dict | None, signal: str | None, app: App | int | None = None):
        self.actor, self.action, self.entity_type, self.entity_id = actor, action, entity_type, entity_id
        self.app_id = app.id if isinstance(app, App) else app
        self.details = dict(details or {})
        self.signal = signal
        self.device: Device | None = None
        self.skipped = False
        self._events: list[tuple[str, App | None, dict]] = []

    def emit(self, event: str, app: App | None, data: dict) -> None:
        """Tell the webhooks that want `event` (outbox.EVENTS), once the change succeeds."""
        self._events.append((event, app, data))

    def skip(self) -> None:
        """The block found nothing to change: no audit entry, event or signal."""
        self.skipped = True

    def _record(self) -> None:
        if self.skipped:
            return
        if self.action is not None:
            AuditEntry.create(actor=str(self.actor), token=getattr(self.actor, "token", None), action=self.action,
                              entity_type=self.entity_type, entity_id=str(self.entity_id), details=self.details,
                              app_id=self.app_id)
        for event, app, data in self._events:
            outbox.emit(event, app, data)
        if self.signal == SERVING:
            bump_generation()
        elif self.signal == DEVICE:
            Device.update(override_seq=bump_device_change()).where(Device.id == self.device.id).execute()


@contextmanager
def changing(actor: str | None, action: str | None, entity_type: str | None = None, entity_id=None,
             details: dict | None = None, *, signal: str | None = SERVING,
             app: App | int | None = None) -> Iterator[Change]:
    """One change in one transaction; see the module docstring. `action` None records no audit entry
    (a device's own choice, which is no one's management action)."""
    with database.atomic():
        change = Change(actor, action, entity_type, entity_id, details, signal, app)
        yield change
        change._record()
