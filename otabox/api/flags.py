"""Management API: feature flags (variations, per-channel settings, rules, evaluation counts),
segments and evaluation contexts of an app. Readers read; publishers change; deleting a flag
takes an admin, as deleting a bundle does."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..core import flag_contexts, flags, segments
from ..web import actor, app_for, int_arg, json_body

bp = Blueprint("api_flags", __name__)
FLAGS = "/apps/<app_id>/flags"
FLAG = f"{FLAGS}/<flag_id>"


def _flag(app_id: str, flag_id: str, role: str = "reader"):
    return flags.find_flag(app_for(app_id, role), flag_id)


@bp.get(FLAGS)
def list_flags(app_id):
    app = app_for(app_id)
    return jsonify({"flags": flags.flags_json(app, flags.list_flags(app))})


@bp.post(FLAGS)
def create_flag(app_id):
    return jsonify(flags.flag_json(flags.create_flag(app_for(app_id, "publisher"), json_body(), actor()))), 201


@bp.get(FLAG)
def get_flag(app_id, flag_id):
    return jsonify(flags.flag_json(_flag(app_id, flag_id)))


@bp.patch(FLAG)
def update_flag(app_id, flag_id):
    flag = _flag(app_id, flag_id, "publisher")
    return jsonify(flags.flag_json(flags.update_flag(flag, json_body(), actor())))


@bp.delete(FLAG)
def delete_flag(app_id, flag_id):
    flag = _flag(app_id, flag_id, "admin")
    flags.delete_flag(flag, actor())
    return jsonify({"deleted": True, "id": flag.id})


@bp.patch(f"{FLAG}/variations/<variation_id>")
def update_variation(app_id, flag_id, variation_id):
    flag = _flag(app_id, flag_id, "publisher")
    return jsonify(flags.flag_json(flags.update_variation(flag, variation_id, json_body(), actor())))


@bp.patch(f"{FLAG}/env/<name>")
def update_channel_setting(app_id, flag_id, name):
    flag = _flag(app_id, flag_id, "publisher")
    return jsonify(flags.flag_json(flags.set_channel(flag, name, json_body(), actor())))


@bp.post(f"{FLAG}/rules")
def create_rule(app_id, flag_id):
    flag = _flag(app_id, flag_id, "publisher")
    return jsonify(flags.rule_json(flags.create_rule(flag, json_body(), actor()))), 201


@bp.patch(f"{FLAG}/rules/<rule_id>")
def update_rule(app_id, flag_id, rule_id):
    flag = _flag(app_id, flag_id, "publisher")
    return jsonify(flags.rule_json(flags.update_rule(flag, flags.find_rule(flag, rule_id), json_body(), actor())))


@bp.delete(f"{FLAG}/rules/<rule_id>")
def delete_rule(app_id, flag_id, rule_id):
    flag = _flag(app_id, flag_id, "publisher")
    rule = flags.find_rule(flag, rule_id)
    flags.delete_rule(flag, rule, actor())
    return jsonify({"deleted": True, "id": rule.id})


@bp.get(f"{FLAG}/evaluations")
def evaluations(app_id, flag_id):
    return jsonify(flag_contexts.evaluation_counts(_flag(app_id, flag_id), int_arg("days", 30, 1, 366)))


@bp.get(f"{FLAG}/health")
def health(app_id, flag_id):
    """Crash and error rates per variant, from the flagStates that health reports carry."""
    return jsonify(flags.flag_health(_flag(app_id, flag_id), int_arg("days", 7, 1, 90)))


# --- segments ----------------------------------------------------------------------------------------

SEGMENTS = "/apps/<app_id>/segments"


@bp.get(SEGMENTS)
def list_segments(app_id):
    return jsonify({"segments": [segments.segment_json(s) for s in segments.list_segments(app_for(app_id))]})


@bp.post(SEGMENTS)
def create_segment(app_id):
    segment = segments.create_segment(app_for(app_id, "publisher"), json_body(), actor())
    return jsonify(segments.segment_json(segment)), 201


@bp.get(f"{SEGMENTS}/<segment_id>")
def get_segment(app_id, segment_id):
    return jsonify(segments.segment_json(segments.find_segment(app_for(app_id), segment_id)))


@bp.patch(f"{SEGMENTS}/<segment_id>")
def update_segment(app_id, segment_id):
    segment = segments.find_segment(app_for(app_id, "publisher"), segment_id)
    return jsonify(segments.segment_json(segments.update_segment(segment, json_body(), actor())))


@bp.delete(f"{SEGMENTS}/<segment_id>")
def delete_segment(app_id, segment_id):
    segment = segments.find_segment(app_for(app_id, "publisher"), segment_id)
    segments.delete_segment(segment, actor())
    return jsonify({"deleted": True, "id": segment.id})


# --- evaluation contexts -----------------------------------------------------------------------------

CONTEXTS = "/apps/<app_id>/contexts"


@bp.get(CONTEXTS)
def list_contexts(app_id):
    found, total = flag_contexts.list_contexts(
        app_for(app_id), request.args.get("kind") or None, request.args.get("search") or None,
        int_arg("limit", 50, 1, 500), int_arg("offset", 0, 0, 10**9))
    return jsonify({"contexts": [flag_contexts.context_json(c) for c in found], "total": total})


@bp.post(CONTEXTS)
def create_context(app_id):
    context = flag_contexts.create_context(app_for(app_id, "publisher"), json_body(), actor())
    return jsonify(flag_contexts.context_json(context)), 201


@bp.get(f"{CONTEXTS}/kinds")
def context_kinds(app_id):
    return jsonify({"kinds": flag_contexts.kinds(app_for(app_id))})


@bp.get(f"{CONTEXTS}/<context_id>")
def get_context(app_id, context_id):
    return jsonify(flag_contexts.context_json(flag_contexts.find_context(app_for(app_id), context_id)))


@bp.delete(f"{CONTEXTS}/<context_id>")
def delete_context(app_id, context_id):
    context = flag_contexts.find_context(app_for(app_id, "publisher"), context_id)
    flag_contexts.delete_context(context, actor())
    return jsonify({"deleted": True, "id": context.id})
