"""AppDispatch's segments (`/v1/ota/segments*`) and evaluation contexts (`/v1/ota/contexts*`), with
`X-Project`, over core/segments.py and core/flag_contexts.py. The document's bodies are otabox's
(`matchType`, `conditions[].valuesJson`; `kind`, `targetingKey`, `name`, `attributes`). Deleting a
segment a rule uses is 409, as documented. One item comes back under its name, lists under their plural."""
from __future__ import annotations

from flask import Blueprint, jsonify

from ...core import flag_contexts, segments
from ...web import accepts, actor, body, paging, query
from .management import project

bp = Blueprint("appdispatch_segments", __name__)


@bp.get("/v1/ota/segments")
@accepts()
def list_segments():
    return jsonify({"segments": [segments.segment_json(s) for s in segments.list_segments(project())]})


@bp.post("/v1/ota/segments")
@accepts(body=segments.NEW_SEGMENT)
def create_segment():
    segment = segments.create_segment(project("publisher"), body(), actor())
    return jsonify({"segment": segments.segment_json(segment)}), 201


@bp.get("/v1/ota/segments/<segment_id>")
@accepts()
def get_segment(segment_id):
    return jsonify({"segment": segments.segment_json(segments.find_segment(project(), segment_id))})


@bp.patch("/v1/ota/segments/<segment_id>")
@accepts(body=segments.SEGMENT)
def update_segment(segment_id):
    segment = segments.find_segment(project("publisher"), segment_id)
    return jsonify({"segment": segments.segment_json(segments.update_segment(segment, body(), actor()))})


@bp.delete("/v1/ota/segments/<segment_id>")
@accepts()
def delete_segment(segment_id):
    segment = segments.find_segment(project("publisher"), segment_id)
    segments.delete_segment(segment, actor())
    return jsonify({"deleted": True, "id": segment.id})


LIST_CONTEXTS = paging(50).extend(flag_contexts.CONTEXT_QUERY.fields)


@bp.get("/v1/ota/contexts")
@accepts(query=LIST_CONTEXTS)
def list_contexts():
    """Filtered by `kind` and `search` (in the targeting key and name), as the document says."""
    args = query()
    found, total = flag_contexts.list_contexts(project(), args.get("kind"), args.get("search"), args["limit"],
                                               args["offset"])
    return jsonify({"contexts": [flag_contexts.context_json(c) for c in found], "total": total})


@bp.post("/v1/ota/contexts")
@accepts(body=flag_contexts.NEW_CONTEXT)
def create_context():
    context = flag_contexts.create_context(project("publisher"), body(), actor())
    return jsonify({"context": flag_contexts.context_json(context)}), 201


@bp.get("/v1/ota/contexts/kinds")
@accepts()
def context_kinds():
    return jsonify({"kinds": flag_contexts.kinds(project())})


@bp.get("/v1/ota/contexts/<context_id>")
@accepts()
def get_context(context_id):
    return jsonify({"context": flag_contexts.context_json(flag_contexts.find_context(project(), context_id))})


@bp.delete("/v1/ota/contexts/<context_id>")
@accepts()
def delete_context(context_id):
    context = flag_contexts.find_context(project("publisher"), context_id)
    flag_contexts.delete_context(context, actor())
    return jsonify({"deleted": True, "id": context.id})
