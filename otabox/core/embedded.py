"""Embedded bundles: the launch bundle shipped inside a store binary, recorded so that a device that
never took an update gets its first one as a patch too.

For Expo, the embedded update's launch bundle per runtime version and platform, named by the
embedded update's id (what `Expo-Embedded-Update-ID` and, before any update, `Expo-Current-Update-ID`
send); for the native protocol, the builtin bundle (a zip) per native version and platform, the base
of a `"builtin"` device. The patch makers take them as bases; the request paths find them in the app's
serving view (`of_view`), read once per view.
"""
from __future__ import annotations

import dataclasses
import uuid
import zipfile

import peewee

from ..errors import BadRequest, Invalid
from ..fields import Choice, Schema, Text
from ..store.models import EmbeddedBundle, iso
from .change import changing
from .serving import AppView

PLATFORMS = ("ios", "android")
EMBEDDED_FIELDS = Schema({
    "platform": Choice(PLATFORMS, required=True),
    "runtimeVersion": Text(100, description="Expo: the binary's runtime version"),
    "nativeVersion": Text(100, description="The native protocol: the binary's version (its builtin bundle, a zip)"),
    "updateId": Text(36, description="Expo: the embedded update's id (a UUID)"),
})
LISTED = Schema({"runtimeVersion": Text(100), "nativeVersion": Text(100), "platform": Choice(PLATFORMS)})


@dataclasses.dataclass(frozen=True)
class Embedded:
    """An embedded bundle as the request paths and planners see it."""

    platform: str
    runtime_version: str
    native_version: str
    update_id: str
    sha256: str
    size: int


def parse_fields(data: dict) -> dict:
    """The fields of an upload, with what they imply for each other: a runtime version (Expo, with the
    embedded update's id) or a native version, not both."""
    fields = {k: v for k, v in EMBEDDED_FIELDS.validate(data).items() if v not in (None, "")}
    runtime, native = fields.get("runtimeVersion"), fields.get("nativeVersion")
    if bool(runtime) == bool(native):
        raise BadRequest("send runtimeVersion (Expo) or nativeVersion (the native protocol), one of them",
                         details={"field": "runtimeVersion"})
    if runtime:
        try:
            fields["updateId"] = str(uuid.UUID(fields.get("updateId", "")))
        except ValueError:
            raise BadRequest("updateId must be the embedded update's id, a UUID", details={"field": "updateId"}) from None
    elif "updateId" in fields:
        raise BadRequest("updateId goes with runtimeVersion (Expo)", details={"field": "updateId"})
    return fields


def record_embedded(app, fields: dict, staged, store, actor: str) -> EmbeddedBundle:
    """Keep the uploaded file and record it (replacing what the same binary recorded before)."""
    if fields.get("nativeVersion") and not zipfile.is_zipfile(staged.path):
        raise Invalid("a native embedded bundle is the builtin bundle's zip", code="not_a_zip",
                      details={"field": "file"})
    store.put(staged)
    key = {"platform": fields["platform"], "runtime_version": fields.get("runtimeVersion", ""),
           "native_version": fields.get("nativeVersion", ""), "update_id": fields.get("updateId", "")}
    with changing(actor, "embedded_bundle.recorded", "embedded_bundle", None,
                  {**fields, "sha256": staged.sha256, "size": staged.size}, app=app) as change:
        row = EmbeddedBundle.get_or_none(EmbeddedBundle.app == app, *[
            getattr(EmbeddedBundle, name) == value for name, value in key.items()])
        if row is None:
            row = EmbeddedBundle.create(app=app, sha256=staged.sha256, size=staged.size, **key)
        else:
            row.sha256, row.size = staged.sha256, staged.size
            row.save()
        change.entity_id = row.id
    return row


def list_embedded(app, filters: dict) -> list[EmbeddedBundle]:
    rows = EmbeddedBundle.select().where(EmbeddedBundle.app == app)
    for name, column in (("runtimeVersion", EmbeddedBundle.runtime_version),
                         ("nativeVersion", EmbeddedBundle.native_version), ("platform", EmbeddedBundle.platform)):
        if filters.get(name):
            rows = rows.where(column == filters[name])
    return list(rows.order_by(EmbeddedBundle.runtime_version, EmbeddedBundle.native_version,
                              EmbeddedBundle.platform, EmbeddedBundle.id))


def embedded_json(row: EmbeddedBundle) -> dict:
    return {"id": row.id, "platform": row.platform, "runtimeVersion": row.runtime_version or None,
            "nativeVersion": row.native_version or None, "updateId": row.update_id or None,
            "sha256": row.sha256, "size": row.size, "createdAt": iso(row.created_at)}


def grouped_json(rows: list[EmbeddedBundle]) -> dict:
    """The listing: every embedded bundle, and the same grouped per runtime and native version."""
    runtimes: dict[str, list] = {}
    natives: dict[str, list] = {}
    for row in rows:
        (runtimes.setdefault(row.runtime_version, []) if row.runtime_version
         else natives.setdefault(row.native_version, [])).append(embedded_json(row))
    return {"embeddedBundles": [embedded_json(row) for row in rows],
            "runtimeVersions": [{"runtimeVersion": k, "embeddedBundles": v} for k, v in runtimes.items()],
            "nativeVersions": [{"nativeVersion": k, "embeddedBundles": v} for k, v in natives.items()]}


def of_view(view: AppView) -> tuple[Embedded, ...]:
    """The app's embedded bundles, read once per serving view (a change to them is a new view). A
    database that does not answer means none for now: they only ever make a download smaller."""
    found = view.memo.get("embedded")
    if found is None:
        try:
            found = view.memo["embedded"] = tuple(
                Embedded(row.platform, row.runtime_version, row.native_version, row.update_id, row.sha256, row.size)
                for row in EmbeddedBundle.select().where(EmbeddedBundle.app == view.id).order_by(EmbeddedBundle.id))
        except peewee.DatabaseError:
            return ()
    return found
