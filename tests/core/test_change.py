"""core/change.py's changing(): a block that succeeds leaves its write, its audit entry, its webhook
event and the change signal it names; a block that raises leaves none of them."""
from __future__ import annotations

import pytest

from otabox.core.audit import Actor
from otabox.core.change import DEVICE, SERVING, changing
from otabox.store.generation import current_state
from otabox.store.models import App, AuditEntry, Channel, Device, OutboxEvent, Webhook

APP = "com.example.demo"


@pytest.fixture
def db(box, demo_app):
    with box.db.connection_context():
        Webhook.create(url="https://hooks.example.com/otabox", events=["channel.updated"], secret_sealed="")
        yield App.get(App.slug == APP)


def rows() -> tuple[int, int, int, int]:
    """Audit entries, outbox events, generation, device-change number."""
    return (AuditEntry.select().count(), OutboxEvent.select().count(), *current_state())


def rollout(channel: Channel) -> int:
    return Channel.get_by_id(channel.id).rollout_percentage


@pytest.mark.parametrize("signal, moved", [(SERVING, (1, 0)), (DEVICE, (0, 1)), (None, (0, 0))])
def test_a_change_that_succeeds_records_its_entry_event_and_signal(db, signal, moved):
    channel = Channel.get((Channel.app == db) & (Channel.name == "production"))
    device = Device.create(app=db, device_id="qa-phone")
    audits, events, generation, device_changes = rows()
    with changing(Actor("ci-key", token="token-1"), "channel.updated", "channel", channel.id, {"rollout": 5},
                  signal=signal) as change:
        Channel.update(rollout_percentage=5).where(Channel.id == channel.id).execute()
        change.details["known"] = "inside the block"
        change.emit("channel.updated", db, {"channel": {"id": channel.id}})
        change.device = device
    assert rollout(channel) == 5
    assert rows() == (audits + 1, events + 1, generation + moved[0], device_changes + moved[1])
    entry = AuditEntry.select().order_by(AuditEntry.id.desc()).first()
    assert (entry.actor, entry.token, entry.action, entry.entity_type, entry.entity_id, entry.details) == (
        "ci-key", "token-1", "channel.updated", "channel", str(channel.id), {"rollout": 5, "known": "inside the block"})
    event = OutboxEvent.select().order_by(OutboxEvent.created_at.desc()).first()
    assert (event.event, event.app_id, event.payload["data"]) == ("channel.updated", db.id, {"channel": {"id": channel.id}})
    if signal == DEVICE:
        assert Device.get_by_id(device.id).override_seq == device_changes + 1


@pytest.mark.parametrize("signal", [SERVING, DEVICE, None])
def test_a_change_that_raises_leaves_nothing(db, signal):
    channel = Channel.get((Channel.app == db) & (Channel.name == "production"))
    device = Device.create(app=db, device_id="qa-phone")
    before = rows()
    with pytest.raises(RuntimeError):
        with changing("ci-key", "channel.updated", "channel", channel.id, signal=signal) as change:
            Channel.update(rollout_percentage=5).where(Channel.id == channel.id).execute()
            change.emit("channel.updated", db, {"channel": {"id": channel.id}})
            change.device = device
            raise RuntimeError("the operation failed half-way")
    assert rollout(channel) == 0
    assert rows() == before
    assert Device.get_by_id(device.id).override_seq is None


def test_a_skipped_change_keeps_its_writes_and_records_nothing(db):
    channel = Channel.get((Channel.app == db) & (Channel.name == "production"))
    before = rows()
    with changing("ci-key", "channel.updated", "channel", channel.id) as change:
        Channel.update(rollout_percentage=5).where(Channel.id == channel.id).execute()
        change.emit("channel.updated", db, {"channel": {"id": channel.id}})
        change.skip()
    assert rollout(channel) == 5
    assert rows() == before


def test_a_change_without_an_action_records_no_audit_entry(db):
    before = rows()
    with changing(None, None):
        App.update(name="Renamed").where(App.id == db.id).execute()
    assert rows() == (before[0], before[1], before[2] + 1, before[3])


@pytest.mark.parametrize("given", ["app", "id", "set inside", None])
def test_the_audit_entry_names_the_app_the_change_concerns(db, given):
    """`app=` (an App or its id, or `change.app_id` set in the block) is what an app's own log reads."""
    app = {"app": db, "id": db.id}.get(given)
    with changing("ci-key", "app.renamed", "app", db.id, signal=None, app=app) as change:
        if given == "set inside":
            change.app_id = db.id
    entry = AuditEntry.select().order_by(AuditEntry.id.desc()).first()
    assert entry.app_id == (None if given is None else db.id)
