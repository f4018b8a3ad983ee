"""Evaluation contexts (the users, devices... that evaluate flags) and evaluation counts.

Evaluations write nothing: `FlagRecorder` counts them per flag, day and variant and remembers the
contexts it saw, in memory, and writes both in one transaction per interval. It is bounded: at most
MAX_PENDING_CONTEXTS distinct contexts wait for a flush (later ones are counted but not recorded
until the next interval), and the contexts evaluations created are kept per app within a count
(`OTABOX_CONTEXTS_PER_APP`) and a size (`OTABOX_CONTEXT_MB_PER_APP`), the least recently seen
dropped first. Contexts created through the management API are never dropped that way. `prune`
(the janitor) removes evaluation counts and evaluation-made contexts older than the retention
horizon."""
from __future__ import annotations

import datetime as dt
import functools
import logging

from peewee import IntegrityError, Value, fn

from ..errors import Conflict
from ..fields import Choice, Json, Schema, Text
from ..store.db import add_flag_evaluation_counts, upsert_flag_contexts
from ..store.models import (
    App,
    Flag,
    FlagContext,
    FlagEvaluationCount,
    database,
    iso,
    utcnow,
)
from . import flag_eval as ev
from .batching import BatchWriter, delete_in_batches
from .change import changing
from .flags import owned_row

log = logging.getLogger("otabox.flags")
MAX_PENDING_CONTEXTS = 10_000
MAX_ATTRIBUTES_BYTES = 16 * 1024
NEW_CONTEXT = Schema({"kind": Choice(ev.CONTEXT_KINDS, default="user"),
                      "targetingKey": Text(ev.MAX_TARGETING_KEY, min_length=1, required=True),
                      "name": Text(200, nullable=True), "attributes": Json(max_bytes=MAX_ATTRIBUTES_BYTES, nullable=True)})
CONTEXT_QUERY = Schema({"kind": Choice(ev.CONTEXT_KINDS), "search": Text(200, description="Part of a targeting key, name or attribute")})
EVICTION_CHUNK = 500
RESERVED = ("targetingKey", "kind", "name")
"""Context fields that are not attributes."""
KIND_DESCRIPTIONS = {
    "user": "An individual user of the application",
    "device": "A phone, tablet or browser instance",
    "organization": "A company, team or account that groups users",
    "service": "A backend service evaluating flags",
    "environment": "A deployment environment",
}


@functools.lru_cache(maxsize=8)
def _day(date: dt.date) -> str:
    return date.isoformat()


def _attributes_text(context: dict) -> str:
    """The context's attributes as stored (JSON text), or none when they are larger than the bound."""
    text = FlagContext.attributes.db_value({k: v for k, v in context.items() if k not in RESERVED})
    return text if len(text) <= MAX_ATTRIBUTES_BYTES else "{}"


class FlagRecorder(BatchWriter):
    """Evaluation counts and contexts seen, buffered; a background thread writes them in batches."""

    thread_name = "otabox-flag-flush"

    def __init__(self, interval: float, max_per_app: int, max_bytes_per_app: int,
                 max_pending: int = MAX_PENDING_CONTEXTS):
        super().__init__(interval)
        self.max_pending, self.max_per_app, self.max_bytes_per_app = max_pending, max_per_app, max_bytes_per_app
        self._counts: dict[tuple[int, str, str], int] = {}
        self._contexts: dict[tuple[int, str, str], dict] = {}

    def evaluated(self, app_id: int, context: ev.Context, served: list[tuple[int, str]]) -> None:
        """One request's evaluations: (flag id, variant) for each flag served, and its context."""
        now = utcnow()
        day = _day(now.date())
        with self._lock:
            counts = self._counts
            for flag_id, variant in served:
                key = (flag_id, day, variant)
                counts[key] = counts.get(key, 0) + 1
            if context.targeting_key is None:
                return
            kind = context.kind if context.kind in ev.CONTEXT_KINDS else "user"
            key = (app_id, kind, context.targeting_key)
            seen = self._contexts.get(key)
            if seen is None and len(self._contexts) >= self.max_pending:
                self.dropped += 1
                return
            name = context.attributes.get("name")
            self._contexts[key] = {"name": name[:200] if isinstance(name, str) else "",
                                   "attributes": context.attributes, "at": now,
                                   "evaluations": (seen["evaluations"] if seen else 0) + len(served)}

    def counted(self, counts: dict[tuple[int, str], int]) -> None:
        """Evaluations a client made itself and reports as counts: {(flag id, variant name): n}. The
        caller keeps to the app's own flags and variants, so the rows stay one per flag, day and variant."""
        day = _day(utcnow().date())
        with self._lock:
            for (flag_id, variant), count in counts.items():
                key = (flag_id, day, variant)
                self._counts[key] = self._counts.get(key, 0) + count

    def _take(self):
        batch = self._counts, self._contexts
        self._counts, self._contexts = {}, {}
        return batch if any(batch) else None

    def _restore(self, batch) -> None:
        counts, contexts = batch
        for key, count in counts.items():
            self._counts[key] = self._counts.get(key, 0) + count
        for key, seen in contexts.items():
            self._contexts.setdefault(key, seen)

    def _store(self, batch) -> int:
        counts, contexts = batch
        try:
            self._write(counts, contexts)
        except IntegrityError:  # a flag or app deleted meanwhile: write what can be, drop the rest
            for key, count in counts.items():
                self._write_dropping({key: count}, {})
            for key, seen in contexts.items():
                self._write_dropping({}, {key: seen})
        for app_id in {key[0] for key in contexts}:
            evict_oldest(app_id, self.max_per_app, self.max_bytes_per_app)
        return len(counts) + len(contexts)

    def _write_dropping(self, counts: dict, contexts: dict) -> None:
        try:
            self._write(counts, contexts)
        except IntegrityError:
            log.warning("dropped evaluation counts or contexts of a deleted flag or app")

    @staticmethod
    def _write(counts: dict, contexts: dict) -> None:
        context_rows = []
        for (app_id, kind, key), seen in contexts.items():
            attributes = _attributes_text(seen["attributes"])
            context_rows.append((app_id, kind, key, seen["name"], attributes, seen["evaluations"], seen["at"],
                                 seen["at"], len(key) + len(seen["name"]) + len(attributes)))
        with database.atomic():
            add_flag_evaluation_counts(database, [(*key, count) for key, count in counts.items()])
            upsert_flag_contexts(database, context_rows)


def evict_oldest(app_id: int, max_count: int, max_bytes: int) -> int:
    """Drop the app's least recently seen contexts made by evaluations while they are more than
    `max_count` or their sizes add up to more than `max_bytes`; returns how many went. Contexts made
    through the management API (`manual`) are neither counted nor dropped."""
    made_by_evaluations = (FlagContext.app == app_id) & (FlagContext.manual == False)  # noqa: E712
    count, size = (FlagContext.select(fn.COUNT(FlagContext.id), fn.COALESCE(fn.SUM(FlagContext.size), 0))
                   .where(made_by_evaluations).tuples().get())
    dropped = 0
    while count > max_count or size > max_bytes:
        oldest = list(FlagContext.select(FlagContext.id, FlagContext.size).where(made_by_evaluations)
                      .order_by(FlagContext.last_seen, FlagContext.id).limit(EVICTION_CHUNK).tuples())
        going = []
        for context_id, context_size in oldest:
            if count <= max_count and size <= max_bytes:
                break
            going.append(context_id)
            count, size = count - 1, size - context_size
        if not going:
            break
        with database.atomic():
            FlagContext.delete().where(FlagContext.id.in_(going)).execute()
        dropped += len(going)
    return dropped


def prune(horizon_days: int, now: dt.datetime | None = None) -> int:
    """Remove evaluation counts and contexts made by evaluations that are older than the horizon, in
    short transactions; returns how many rows went."""
    cutoff = (now or utcnow()) - dt.timedelta(days=horizon_days)
    return (delete_in_batches(FlagEvaluationCount, FlagEvaluationCount.day < _day(cutoff.date()))
            + delete_in_batches(FlagContext, (FlagContext.manual == False)  # noqa: E712
                                & (FlagContext.last_seen < cutoff)))


# --- the management side -----------------------------------------------------------------------------

def context_json(context: FlagContext) -> dict:
    return {"id": context.id, "kind": context.kind, "targetingKey": context.targeting_key, "name": context.name,
            "attributes": context.attributes, "evaluations": context.evaluations,
            "source": "manual" if context.manual else "evaluation",
            "firstSeen": iso(context.first_seen), "lastSeen": iso(context.last_seen)}


def find_context(app: App, context_id) -> FlagContext:
    return owned_row(FlagContext, FlagContext.app == app, context_id, "context")


def list_contexts(app: App, kind: str | None, search: str | None, limit: int, offset: int):
    """`kind` and `search` as CONTEXT_QUERY checked them."""
    query = FlagContext.select().where(FlagContext.app == app)
    if kind:
        query = query.where(FlagContext.kind == kind)
    if search:
        text = Value(f"%{search}%", converter=False)  # the attributes' JSON text, not a JSON-encoded search
        query = query.where(FlagContext.targeting_key.contains(search) | FlagContext.name.contains(search)
                            | (FlagContext.attributes ** text))
    return list(query.order_by(FlagContext.last_seen.desc(), FlagContext.id.desc()).limit(limit).offset(offset)), \
        query.count()


def kinds(app: App) -> list[dict]:
    counts = dict(FlagContext.select(FlagContext.kind, fn.COUNT(FlagContext.id)).where(FlagContext.app == app)
                  .group_by(FlagContext.kind).tuples())
    return [{"kind": kind, "description": KIND_DESCRIPTIONS[kind], "contexts": counts.get(kind, 0)}
            for kind in ev.CONTEXT_KINDS]


def create_context(app: App, data: dict, actor: str) -> FlagContext:
    data = NEW_CONTEXT.validate(data)
    kind, key = data["kind"], data["targetingKey"]
    name, attributes = data.get("name") or "", data.get("attributes") or {}
    with changing(actor, "context.created", "context", details={"app": app.slug, "kind": kind, "key": key},
                  signal=None, app=app) as change:
        if FlagContext.select().where((FlagContext.app == app) & (FlagContext.kind == kind)
                                      & (FlagContext.targeting_key == key)).exists():
            raise Conflict(f"a {kind} context {key!r} exists already")
        context = FlagContext.create(app=app, kind=kind, targeting_key=key, name=name, attributes=attributes,
                                     manual=True)
        change.entity_id = context.id
    return context


def delete_context(context: FlagContext, actor: str) -> None:
    with changing(actor, "context.deleted", "context", context.id,
                  {"app": context.app.slug, "kind": context.kind, "key": context.targeting_key}, signal=None,
                  app=context.app_id):
        context.delete_instance()


def evaluation_counts(flag: Flag, days: int) -> dict:
    """Evaluations of a flag per day and variant over the last `days` days (today included)."""
    since = (utcnow() - dt.timedelta(days=days - 1)).strftime("%Y-%m-%d")
    rows = list(FlagEvaluationCount.select().where((FlagEvaluationCount.flag == flag)
                                                   & (FlagEvaluationCount.day >= since))
                .order_by(FlagEvaluationCount.day, FlagEvaluationCount.variant))
    totals: dict[str, int] = {}
    for row in rows:
        totals[row.variant] = totals.get(row.variant, 0) + row.count
    return {"flagId": flag.id, "key": flag.key, "days": days, "since": since,
            "evaluations": [{"day": r.day, "variant": r.variant, "count": r.count} for r in rows],
            "totals": totals}
