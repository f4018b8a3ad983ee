"""Management API: rollout policies and the executions that follow them."""
from __future__ import annotations

from flask import Blueprint, jsonify

from ..core import executions, policies
from ..core.executions import execution_json
from ..fields import Choice, Whole
from ..web import accepts, actor, app_for, body, paging, query

bp = Blueprint("api_rollouts", __name__)


@bp.get("/apps/<app_id>/rollout-policies")
@accepts()
def list_policies(app_id):
    return jsonify({"policies": [policies.policy_json(p) for p in policies.list_policies(app_for(app_id))]})


@bp.post("/apps/<app_id>/rollout-policies")
@accepts(body=policies.NEW_POLICY)
def create_policy(app_id):
    policy = policies.create_policy(app_for(app_id, "publisher"), body(), actor())
    return jsonify(policies.policy_json(policy)), 201


@bp.get("/apps/<app_id>/rollout-policies/<policy_id>")
@accepts()
def get_policy(app_id, policy_id):
    return jsonify(policies.policy_json(policies.find_policy(app_for(app_id), policy_id)))


@bp.patch("/apps/<app_id>/rollout-policies/<policy_id>")
@accepts(body=policies.POLICY)
def update_policy(app_id, policy_id):
    app = app_for(app_id, "publisher")
    data = body()
    return jsonify(policies.policy_json(policies.update_policy(policies.find_policy(app, policy_id), data, actor())))


@bp.delete("/apps/<app_id>/rollout-policies/<policy_id>")
@accepts()
def delete_policy(app_id, policy_id):
    policy = policies.find_policy(app_for(app_id, "publisher"), policy_id)
    policies.delete_policy(policy, actor())
    return jsonify({"deleted": True, "id": policy.id})


@bp.get("/apps/<app_id>/rollout-executions")
@accepts(query=paging(50).extend({"status": Choice(executions.STATUSES),
                                   "release": Whole(1, 2**63 - 1, description="Only the executions of this release")}))
def list_executions(app_id):
    app = app_for(app_id)
    args = query()
    rows, total = policies.list_executions(app, args.get("status"), args["limit"], args["offset"], args.get("release"))
    return jsonify({"executions": [execution_json(e) for e in rows], "total": total})


@bp.get("/apps/<app_id>/rollout-executions/<execution_id>")
@accepts()
def get_execution(app_id, execution_id):
    return jsonify(execution_json(policies.find_execution(app_for(app_id), execution_id)))


CONTROLS = {"pause": policies.pause, "resume": policies.resume, "cancel": policies.cancel,
            "advance": policies.advance}


def _control(name: str):
    def view(app_id, execution_id):
        execution = policies.find_execution(app_for(app_id, "publisher"), execution_id)
        return jsonify(execution_json(CONTROLS[name](execution, actor())))
    view.__doc__ = f"{name.capitalize()} a rollout execution."
    return accepts()(view)


for _name in CONTROLS:
    bp.add_url_rule(f"/apps/<app_id>/rollout-executions/<execution_id>/{_name}", f"{_name}_execution",
                    _control(_name), methods=["POST"])
