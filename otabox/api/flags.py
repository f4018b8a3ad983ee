"""Management API: feature flags (variations, per-channel settings, rules, evaluation counts),
segments and evaluation contexts of an app. Readers read; publishers change; deleting a flag
takes an admin, as deleting a bundle does."""
from __future__ import annotations

from flask import Blueprint, jsonify

from ..core import flag_contexts, flags, segments
from ..fields import Schema, Whole
from ..web import accepts, actor, app_for, body, paging, query

bp = Blueprint("api_flags", __name__)
FLAGS = "/apps/<app_id>/flags"
FLAG = f"{FLAGS}/<flag_id>"


def _flag(app_id: str, flag_id: str, role: str = "reader"):
    return flags.find_flag(app_for(app_id, role), flag_id)


@bp.get(FLAGS)
@accepts()
def list_flags(app_id):
    app = app_for(app_id)
    return jsonify({"flags": flags.flags_json(app, flags.list_flags(app))})


@bp.post(FLAGS)
@accepts(body=flags.NEW_FLAG)
def create_flag(app_id):
    return jsonify(flags.flag_json(flags.create_flag(app_for(app_id, "publisher"), body(), actor()))), 201


@bp.get(FLAG)
@accepts()
def get_flag(app_id, flag_id):
    return jsonify(flags.flag_json(_flag(app_id, flag_id)))


@bp.patch(FLAG)
@accepts(body=flags.FLAG)
def update_flag(app_id, flag_id):
    flag = _flag(app_id, flag_id, "publisher")
    return jsonify(flags.flag_json(flags.update_flag(flag, body(), actor())))


@bp.delete(FLAG)
@accepts()
def delete_flag(app_id, flag_id):
    flag = _flag(app_id, flag_id, "admin")
    flags.delete_flag(flag, actor())
    return jsonify({"deleted": True, "id": flag.id})


@bp.patch(f"{FLAG}/variations/<variation_id>")
@accepts(body=flags.VARIATION_CHANGES)
def update_variation(app_id, flag_id, variation_id):
    flag = _flag(app_id, flag_id, "publisher")
    return jsonify(flags.flag_json(flags.update_variation(flag, variation_id, body(), actor())))


@bp.patch(f"{FLAG}/env/<name>")
@accepts(body=flags.CHANNEL_SETTING)
def update_channel_setting(app_id, flag_id, name):
    flag = _flag(app_id, flag_id, "publisher")
    return jsonify(flags.flag_json(flags.set_channel(flag, name, body(), actor())))


@bp.post(f"{FLAG}/rules")
@accepts(body=flags.NEW_RULE)
def create_rule(app_id, flag_id):
    flag = _flag(app_id, flag_id, "publisher")
    return jsonify(flags.rule_json(flags.create_rule(flag, body(), actor()))), 201


@bp.patch(f"{FLAG}/rules/<rule_id>")
@accepts(body=flags.RULE)
def update_rule(app_id, flag_id, rule_id):
    flag = _flag(app_id, flag_id, "publisher")
    return jsonify(flags.rule_json(flags.update_rule(flag, flags.find_rule(flag, rule_id), body(), actor())))


@bp.delete(f"{FLAG}/rules/<rule_id>")
@accepts()
def delete_rule(app_id, flag_id, rule_id):
    flag = _flag(app_id, flag_id, "publisher")
    rule = flags.find_rule(flag, rule_id)
    flags.delete_rule(flag, rule, actor())
    return jsonify({"deleted": True, "id": rule.id})


@bp.get(f"{FLAG}/evaluations")
@accepts(query=Schema({"days": Whole(1, 366, default=30)}))
def evaluations(app_id, flag_id):
    flag = _flag(app_id, flag_id)
    return jsonify(flag_contexts.evaluation_counts(flag, query()["days"]))


@bp.get(f"{FLAG}/health")
@accepts(query=Schema({"days": Whole(1, 90, default=7)}))
def health(app_id, flag_id):
    """Crash and error rates per variant, from the flagStates that health reports carry."""
    flag = _flag(app_id, flag_id)
    return jsonify(flags.flag_health(flag, query()["days"]))


# --- segments ----------------------------------------------------------------------------------------

SEGMENTS = "/apps/<app_id>/segments"


@bp.get(SEGMENTS)
@accepts()
def list_segments(app_id):
    return jsonify({"segments": [segments.segment_json(s) for s in segments.list_segments(app_for(app_id))]})


@bp.post(SEGMENTS)
@accepts(body=segments.NEW_SEGMENT)
def create_segment(app_id):
    segment = segments.create_segment(app_for(app_id, "publisher"), body(), actor())
    return jsonify(segments.segment_json(segment)), 201


@bp.get(f"{SEGMENTS}/<segment_id>")
@accepts()
def get_segment(app_id, segment_id):
    return jsonify(segments.segment_json(segments.find_segment(app_for(app_id), segment_id)))


@bp.patch(f"{SEGMENTS}/<segment_id>")
@accepts(body=segments.SEGMENT)
def update_segment(app_id, segment_id):
    segment = segments.find_segment(app_for(app_id, "publisher"), segment_id)
    return jsonify(segments.segment_json(segments.update_segment(segment, body(), actor())))


@bp.delete(f"{SEGMENTS}/<segment_id>")
@accepts()
def delete_segment(app_id, segment_id):
    segment = segments.find_segment(app_for(app_id, "publisher"), segment_id)
    segments.delete_segment(segment, actor())
    return jsonify({"deleted": True, "id": segment.id})


# --- evaluation contexts -----------------------------------------------------------------------------

CONTEXTS = "/apps/<app_id>/contexts"


@bp.get(CONTEXTS)
@accepts(query=paging(50).extend(flag_contexts.CONTEXT_QUERY.fields))
def list_contexts(app_id):
    app = app_for(app_id)
    args = query()
    found, total = flag_contexts.list_contexts(app, args.get("kind"), args.get("search"), args["limit"],
                                               args["offset"])
    return jsonify({"contexts": [flag_contexts.context_json(c) for c in found], "total": total})


@bp.post(CONTEXTS)
@accepts(body=flag_contexts.NEW_CONTEXT)
def create_context(app_id):
    context = flag_contexts.create_context(app_for(app_id, "publisher"), body(), actor())
    return jsonify(flag_contexts.context_json(context)), 201


@bp.get(f"{CONTEXTS}/kinds")
@accepts()
def context_kinds(app_id):
    return jsonify({"kinds": flag_contexts.kinds(app_for(app_id))})


@bp.get(f"{CONTEXTS}/<context_id>")
@accepts()
def get_context(app_id, context_id):
    return jsonify(flag_contexts.context_json(flag_contexts.find_context(app_for(app_id), context_id)))


@bp.delete(f"{CONTEXTS}/<context_id>")
@accepts()
def delete_context(app_id, context_id):
    context = flag_contexts.find_context(app_for(app_id, "publisher"), context_id)
    flag_contexts.delete_context(context, actor())
    return jsonify({"deleted": True, "id": context.id})
