"""AppDispatch's rollout policies (`/v1/ota/rollout-policies*`) and executions
(`/v1/ota/rollout-executions*`: pause, resume, cancel, advance), with `X-Project`, over
core/policies.py. The document's policy body (`stages[].percentage/minDevices/minDurationMinutes`,
`thresholds.errorRate/crashRate/action`) is otabox's; editing a policy while an execution follows it
is 409 (the document: "editing is locked while an execution is running"). The document does not say
how an execution starts: otabox starts one when a release names the policy (`policyId` on
`POST /api/v1/apps/{app}/releases`)."""
from __future__ import annotations

from flask import Blueprint, jsonify

from ...core import executions, policies
from ...core.executions import execution_json
from ...fields import Choice, Whole
from ...web import accepts, actor, body, paging, query
from .management import project

bp = Blueprint("appdispatch_policies", __name__)
LIST_EXECUTIONS = paging(50).extend({"status": Choice(executions.STATUSES), "updateId": Whole(1, 2**63 - 1)})


@bp.get("/v1/ota/rollout-policies")
@accepts()
def list_policies():
    return jsonify({"policies": [policies.policy_json(p) for p in policies.list_policies(project())]})


@bp.post("/v1/ota/rollout-policies")
@accepts(body=policies.NEW_POLICY)
def create_policy():
    policy = policies.create_policy(project("publisher"), body(), actor())
    return jsonify({"policy": policies.policy_json(policy)}), 201


@bp.get("/v1/ota/rollout-policies/<policy_id>")
@accepts()
def get_policy(policy_id):
    return jsonify({"policy": policies.policy_json(policies.find_policy(project(), policy_id))})


@bp.patch("/v1/ota/rollout-policies/<policy_id>")
@accepts(body=policies.POLICY)
def update_policy(policy_id):
    policy = policies.find_policy(project("publisher"), policy_id)
    return jsonify({"policy": policies.policy_json(policies.update_policy(policy, body(), actor()))})


@bp.delete("/v1/ota/rollout-policies/<policy_id>")
@accepts()
def delete_policy(policy_id):
    policy = policies.find_policy(project("publisher"), policy_id)
    policies.delete_policy(policy, actor())
    return jsonify({"deleted": True, "id": policy.id})


@bp.get("/v1/ota/rollout-executions")
@accepts(query=LIST_EXECUTIONS)
def list_executions():
    args = query()
    rows, total = policies.list_executions(project(), args.get("status"), args["limit"], args["offset"],
                                           args.get("updateId"))
    return jsonify({"executions": [execution_json(e) for e in rows], "total": total})


@bp.get("/v1/ota/rollout-executions/<execution_id>")
@accepts()
def get_execution(execution_id):
    return jsonify({"execution": execution_json(policies.find_execution(project(), execution_id))})


CONTROLS = {"pause": policies.pause, "resume": policies.resume, "cancel": policies.cancel,
            "advance": policies.advance}


def _control(name: str):
    def view(execution_id):
        execution = policies.find_execution(project("publisher"), execution_id)
        return jsonify({"execution": execution_json(CONTROLS[name](execution, actor()))})
    view.__doc__ = f"{name.capitalize()} a rollout execution."
    return accepts()(view)


for _name in CONTROLS:
    bp.add_url_rule(f"/v1/ota/rollout-executions/<execution_id>/{_name}", f"{_name}_execution", _control(_name),
                    methods=["POST"])
