"""Whole-number bundle versions per channel (the `version` Koolbase's SDK holds and sends back).

A bundle gets its number on a channel when it is uploaded to that channel (Koolbase's upload) or,
for bundles uploaded otherwise, when it is first released there; a number is never reused within its
channel, so a device's number always names the bundle it got. Callers hold the transaction."""
from __future__ import annotations

from peewee import fn

from ..store.models import ChannelVersion, utcnow


def next_number(channel_id: int) -> int:
    highest = ChannelVersion.select(fn.MAX(ChannelVersion.number)).where(ChannelVersion.channel == channel_id).scalar()
    return (highest or 0) + 1


def number_bundle(channel_id: int, bundle_id: int, mandatory: bool = False) -> ChannelVersion:
    """Give the bundle the channel's next number."""
    now = utcnow()
    return ChannelVersion.create(channel=channel_id, bundle=bundle_id, number=next_number(channel_id),
                                 mandatory=mandatory, created_at=now, updated_at=now)


def ensure_number(channel_id: int, bundle_id: int, mandatory: bool = False) -> None:
    """Number a bundle released to a channel where it has no number yet."""
    if not ChannelVersion.select().where((ChannelVersion.channel == channel_id)
                                         & (ChannelVersion.bundle == bundle_id)).exists():
        number_bundle(channel_id, bundle_id, mandatory)
