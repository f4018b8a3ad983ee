"""Whole-number bundle versions per channel (the `version` Koolbase's SDK holds and sends back).

A bundle gets its number on a channel when it is uploaded to that channel (Koolbase's upload) or,
for bundles uploaded otherwise, when it is first released there; a number is never reused within its
channel, so a device's number always names the bundle it got. Callers hold the transaction."""
from __future__ import annotations

from peewee import fn

from ..store.models import Channel, ChannelVersion, utcnow


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


def highest_numbers(pairs) -> dict[tuple[int, int], int]:
    """{(channel id, bundle id): the bundle's highest number on that channel} for the pairs that have
    one (the number a Koolbase device on that channel holds for the bundle), in one query."""
    pairs = {(c, b) for c, b in pairs if c is not None and b is not None}
    if not pairs:
        return {}
    found: dict[tuple[int, int], int] = {}
    rows = (ChannelVersion.select(ChannelVersion.channel, ChannelVersion.bundle, fn.MAX(ChannelVersion.number))
            .where(ChannelVersion.channel.in_({c for c, _ in pairs}) & ChannelVersion.bundle.in_({b for _, b in pairs}))
            .group_by(ChannelVersion.channel, ChannelVersion.bundle).tuples())
    for channel_id, bundle_id, number in rows:
        if (channel_id, bundle_id) in pairs:
            found[(channel_id, bundle_id)] = number
    return found


def numbers_by_bundle(bundle_ids, served: dict[int, int | None]) -> dict[int, list[dict]]:
    """Per bundle, its whole-number versions: one entry per channel (its highest number there), with
    the mandatory flag it was numbered with and whether that channel serves it now (`served`: channel
    id → the bundle it serves, for every channel of the app)."""
    shown: dict[int, list[dict]] = {bundle_id: [] for bundle_id in bundle_ids}
    if not shown:
        return shown
    rows = (ChannelVersion.select(ChannelVersion, Channel.id, Channel.name).join(Channel)
            .where(ChannelVersion.bundle.in_(list(shown)))
            .order_by(Channel.name, ChannelVersion.number.desc()))
    for row in rows:
        entries = shown[row.bundle_id]
        if entries and entries[-1]["channel"] == row.channel.name:
            continue
        entries.append({"channel": row.channel.name, "version": row.number, "mandatory": row.mandatory,
                        "active": served.get(row.channel_id) == row.bundle_id})
    return shown
