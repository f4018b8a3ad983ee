"""`POST /v1/ota/flag-evaluations`: the evaluation counts `@appdispatch/react-native`'s OpenFeature
provider posts every 60 s for the flags it evaluated on the device from the flag definitions. The
document does not show it, so the body otabox takes is the one the provider's counts need:
`{projectSlug, deviceId?, channel?, evaluations: [{flagKey, variant? | value?, count}]}` (a variant by its
name, or the value it served; extra fields are ignored, as every device protocol here tolerates).
Public like the definitions the counts come from (no key, no X-Project).

Bounded like health-metrics: the body's size before parsing (the fast path's declared-length check,
Flask's JSON limit), at most `MAX_ENTRIES` entries of at most `MAX_COUNT` each, of which one report adds
at most `COUNTED_PER_REPORT` per flag variant, the per-address and
per-device client limits, and only the app's own flags and variants count (anything else is dropped
unread), so what a flood can add is counts on one row per flag, variant and day. Answers 204."""
from __future__ import annotations

from flask import Blueprint

from ...core import flag_eval as ev
from ...errors import BadRequest, NotFound
from ...security.ratelimit import limit_key
from ..native.health import decoded_body
from ..wire import JSON_ERRORS, NO_CONTENT, Reply, WireRequest

bp = Blueprint("appdispatch_evaluations", __name__)
PATH = "/v1/ota/flag-evaluations"
MAX_ENTRIES = 500
MAX_COUNT = 100_000
"""The largest `count` an entry may carry (more is refused, 400)."""
COUNTED_PER_REPORT = 600
"""Evaluations of one flag variant one report adds at most: the provider posts every 60 s, and ten
evaluations of one flag a second, all minute, is more than a screen re-rendering asks for. A larger
count is taken and cut to this, so one forged report from a fresh id moves a variant by at most 600."""


def _text(data: dict, name: str, required: bool = False) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= 200:
        raise BadRequest(f"{name} must be a string of 1 to 200 characters", details={"field": name})
    return value


def _variants(view, b) -> dict:
    """{flag key: (flag id, {variant name: name}, {value key: name})}, kept as long as the app's view."""
    found = view.memo.get("evaluation_variants")
    if found is None:
        found = view.memo["evaluation_variants"] = {
            key: (flag.id, {v.name: v.name for v in flag.variants}, {ev.value_key(v.value): v.name for v in flag.variants})
            for key, flag in b.flags.flag_set(view).flags.items()}
    return found


def counted(b, view, entries) -> dict[tuple[int, str], int]:
    if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
        raise BadRequest(f"evaluations must be a list of at most {MAX_ENTRIES} entries",
                         details={"field": "evaluations"})
    known = _variants(view, b)
    counts: dict[tuple[int, str], int] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            raise BadRequest("each evaluations entry must be an object", details={"field": "evaluations"})
        count = entry.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or not 0 < count <= MAX_COUNT:
            raise BadRequest(f"count must be a whole number from 1 to {MAX_COUNT}", details={"field": "count"})
        flag = known.get(entry.get("flagKey") if isinstance(entry.get("flagKey"), str) else None)
        if flag is None:
            continue
        flag_id, by_name, by_value = flag
        variant = entry.get("variant")
        name = by_name.get(variant) if isinstance(variant, str) else None
        if name is None and "value" in entry:
            try:
                name = by_value.get(ev.value_key(entry["value"]))
            except (TypeError, ValueError):
                name = None
        if name is not None:
            counts[(flag_id, name)] = min(counts.get((flag_id, name), 0) + count, COUNTED_PER_REPORT)
    return counts


def answer_counts(b, wire: WireRequest) -> Reply:
    """Validate and buffer one device's counts (raises OtaboxError)."""
    address = wire.client_address
    b.client_limiter.take(limit_key("flag-evaluations", None, address))
    data = decoded_body(b, wire)
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object", code="invalid_json")
    slug = _text(data, "projectSlug", required=True)
    device_id = _text(data, "deviceId")
    view = b.serving.app_by_slug(slug)
    if view is None:
        raise NotFound(f"no app {slug!r}", code="app_not_found")
    counts = counted(b, view, data.get("evaluations"))
    if device_id is not None:
        b.client_limiter.take(limit_key("flag-evaluations", device_id, address))
    if counts:
        b.flag_recorder.counted(counts)
    return NO_CONTENT


@bp.post(PATH)
def flag_evaluations():
    return JSON_ERRORS.flask(answer_counts)
