"""Bundles uploaded to a channel under its next whole-number version, then activated (Koolbase's
model): upload, list, activate, the mandatory flag, delete.

A numbered bundle is a bundle with its number on a channel (`ChannelVersion`, core/channel_numbers.py).
It is *active* when its channel serves it now; activating it is releasing it to its channel (a release
like any other, so every protocol serves it and every history shows it), with the mandatory flag it
was given. Deleting one forgets its number, and the bundle and its file too when nothing else uses
them (a release history, a device pin, a number on another channel); the bundle its channel serves
cannot be deleted."""
from __future__ import annotations

import re

from ..errors import Conflict, NotFound
from ..store.blobs import StagedFile
from ..store.models import App, Bundle, Channel, ChannelVersion, Device, Release, row_id, utcnow
from . import apps, channel_numbers, releases
from .change import changing
from .bundles import BundleFields, delete_bundle_rows, remove_unreferenced_blobs

STANDARD_CHANNELS = ("production", "staging", "development")
"""Koolbase's channels: an upload to one the app does not have yet creates it."""


def upload_channel(app: App, name: str) -> Channel | None:
    """The channel an upload goes to (its exact name first, then ignoring case, as every channel is
    found); None when it is a standard channel the upload will create (named in lower case)."""
    try:
        return apps.find_channel(app, name)
    except NotFound:
        if name.lower() not in STANDARD_CHANNELS:
            raise NotFound(f"no channel {name!r} in app {app.slug!r}", details={"field": "channel"}) from None
        return None


def bundle_version(number: int, channel_name: str, sha256: str) -> str:
    """The semantic version a numbered bundle gets (bundles are unique per app and version): the number
    first, then the channel and the start of its digest as build metadata, e.g.
    3.0.0+koolbase.production.147599f3a1b2."""
    return f"{number}.0.0+koolbase.{re.sub(r'[^0-9A-Za-z-]', '-', channel_name)}.{sha256[:12]}"


def upload(ingestor, app: App, channel_name: str, mandatory: bool, notes: str, staged: StagedFile,
           actor: str) -> ChannelVersion:
    """Ingest a bundle numbered on the channel in one transaction (the channel is created first when it
    is a standard one the app lacks). Two uploads to one channel at once: the later one is refused."""
    try:
        channel = upload_channel(app, channel_name)
    except (NotFound, Conflict):
        staged.discard()
        raise
    channel_name = channel.name if channel is not None else channel_name.lower()
    number = channel_numbers.next_number(channel.id) if channel else 1
    numbered: list[ChannelVersion] = []

    def number_it(bundle: Bundle) -> None:
        target = channel or apps.create_channel(app, channel_name, actor)
        if channel_numbers.next_number(target.id) != number:
            raise Conflict(f"another upload to channel {channel_name!r} took version {number}; upload again",
                           code="version_taken", details={"version": number})
        with changing(actor, "bundle.numbered", "bundle", bundle.id,
                      {"app": app.slug, "channel": channel_name, "number": number, "mandatory": mandatory}, app=app):
            numbered.append(channel_numbers.number_bundle(target.id, bundle.id, mandatory))

    fields = BundleFields(version=bundle_version(number, channel_name, staged.sha256), notes=notes)
    ingestor.ingest(app, fields, staged, actor, also=number_it)
    return numbered[0]


def find(app: App, numbered_id) -> ChannelVersion:
    number = row_id(numbered_id)
    row = (ChannelVersion.select().join(Channel).where((ChannelVersion.id == number) & (Channel.app == app)).first()
           if number is not None else None)
    if row is None:
        raise NotFound(f"no bundle {str(numbered_id)[:40]!r} in app {app.slug!r}")
    return row


def listing(app: App) -> list[ChannelVersion]:
    """The app's numbered bundles, newest first: each bundle once per channel, under its highest number."""
    rows = (ChannelVersion.select().join(Channel).where(Channel.app == app)
            .order_by(ChannelVersion.created_at.desc(), ChannelVersion.number.desc()))
    seen, shown = set(), []
    for row in rows:
        if (row.channel_id, row.bundle_id) not in seen:
            seen.add((row.channel_id, row.bundle_id))
            shown.append(row)
    return shown


def bundle_numbers(app: App, bundle_ids) -> dict[int, list[dict]]:
    """Per bundle of the app, its whole-number version on each channel that numbered it, and whether
    that channel serves it now (`active`), as otabox's bundle list shows them."""
    served = {channel.id: releases.served_bundle_id(channel) for channel in app.channels}
    return channel_numbers.numbers_by_bundle(bundle_ids, served)


def is_active(row: ChannelVersion) -> bool:
    return releases.served_bundle_id(row.channel) == row.bundle_id


def activate(app: App, row: ChannelVersion, actor: str) -> ChannelVersion:
    """Make the bundle what its channel serves (nothing changes when it is already)."""
    if not is_active(row):
        releases.create_release(app, {"bundleId": row.bundle_id, "channel": row.channel.name,
                                      "mandatory": row.mandatory}, actor,
                                lambda _app, _id: row.bundle, lambda _app, _name: row.channel)
    return ChannelVersion.get_by_id(row.id)


def set_mandatory(row: ChannelVersion, mandatory: bool, actor: str) -> ChannelVersion:
    """The bundle's mandatory flag on its channel; the release serving it now changes with it."""
    with changing(actor, "bundle.mandatory_set", "bundle", row.bundle_id,
                  {"channel": row.channel.name, "number": row.number, "mandatory": mandatory}, app=row.channel.app_id):
        (ChannelVersion.update(mandatory=mandatory, updated_at=utcnow())
         .where((ChannelVersion.channel == row.channel_id) & (ChannelVersion.bundle == row.bundle_id)).execute())
        current = releases.current_release(row.channel)
        if current is not None and current.bundle_id == row.bundle_id and current.mandatory != mandatory:
            releases.update_release(current, {"mandatory": mandatory}, actor)
    return ChannelVersion.get_by_id(row.id)


def delete(app: App, row: ChannelVersion, actor: str, store) -> None:
    """Forget the bundle's numbers on its channel; the bundle and its file go too when nothing else
    uses them."""
    with changing(actor, "bundle.unnumbered", "bundle", row.bundle_id,
                  {"app": app.slug, "channel": row.channel.name, "number": row.number}, app=app):
        if is_active(row):
            raise Conflict("the channel serves this bundle; activate another one first", code="bundle_active",
                           details={"id": row.id})
        (ChannelVersion.delete()
         .where((ChannelVersion.channel == row.channel_id) & (ChannelVersion.bundle == row.bundle_id)).execute())
        bundle = row.bundle
        blobs = set() if _still_used(bundle) else delete_bundle_rows(app, [bundle], actor)
    remove_unreferenced_blobs(store, blobs)


def _still_used(bundle: Bundle) -> bool:
    return (Release.select().where(Release.bundle == bundle).exists()
            or Device.select().where(Device.override_bundle == bundle).exists()
            or ChannelVersion.select().where(ChannelVersion.bundle == bundle).exists())
