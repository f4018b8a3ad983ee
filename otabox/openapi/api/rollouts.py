"""Rollout policies and their executions (api/rollouts.py)."""
from __future__ import annotations

from ...core import executions
from ...core import policies
from ..shapes import (
    APP_ID, array, AUTH, BOOLEAN, DELETED, INTEGER, json_errors, nullable, obj, operation, path, RATE, ref, reply,
    STRING, TIMESTAMP)


def schemas() -> dict:
    stage = obj({"percentage": {"type": "integer", "minimum": 1, "maximum": 100},
                 "minDevices": {"type": "integer", "minimum": 0},
                 "minServedDevices": {"type": "integer", "minimum": 0},
                 "minDurationMinutes": {"type": "number", "minimum": 0}})
    thresholds = obj({"errorRate": RATE, "crashRate": RATE, "minLaunches": {"type": "integer", "minimum": 0},
                      "action": {"enum": list(policies.ACTIONS)}})
    execution_event = obj({"at": TIMESTAMP, "kind": STRING, "stage": INTEGER, "percentage": INTEGER,
                           "actor": STRING, "details": {"type": "object"}})
    return {
        "RolloutStage": stage,
        "RolloutThresholds": thresholds,
        "RolloutPolicy": obj({"id": INTEGER, "appId": INTEGER, "name": STRING, "stages": array(stage),
                              "thresholds": thresholds, "requireServedDevices": BOOLEAN,
                              "activeExecutions": INTEGER, "createdAt": TIMESTAMP,
                              "updatedAt": TIMESTAMP}),
        "RolloutExecution": obj({
            "id": INTEGER, "releaseId": INTEGER, "policyId": nullable(INTEGER), "policyName": STRING,
            "status": {"enum": list(executions.STATUSES)},
            "stage": {"type": "integer", "minimum": 1}, "stages": nullable(INTEGER), "percentage": INTEGER,
            "channel": STRING, "bundleVersion": STRING, "stageStartedAt": TIMESTAMP, "createdAt": TIMESTAMP,
            "updatedAt": TIMESTAMP, "events": array(execution_event)}, required=[
            "id", "releaseId", "policyId", "policyName", "status", "stage", "stages", "percentage", "channel",
            "bundleVersion", "stageStartedAt", "createdAt", "updatedAt"]),
    }


def paths() -> dict:
    app = "/api/v1/apps/{app_id}"
    tag = "health and rollouts"
    policy_id = path("policy_id", schema=INTEGER)
    execution_id = path("execution_id", schema=INTEGER)
    execution = reply(ref("RolloutExecution"))
    paths = {
        f"{app}/rollout-policies": {
            "get": operation("The app's rollout policies", tag, {
                **reply(obj({"policies": array(ref("RolloutPolicy"))})), **json_errors(*AUTH)}, [APP_ID]),
            "post": operation("Create a rollout policy", tag, {
                **reply(ref("RolloutPolicy"), 201), **json_errors(400, *AUTH, 409)}, [APP_ID]),
        },
        f"{app}/rollout-policies/{{policy_id}}": {
            "get": operation("A rollout policy", tag, {**reply(ref("RolloutPolicy")), **json_errors(*AUTH)},
                             [APP_ID, policy_id]),
            "patch": operation("Change a rollout policy (409 while one of its executions runs)", tag, {
                **reply(ref("RolloutPolicy")), **json_errors(400, *AUTH, 409)}, [APP_ID, policy_id]),
            "delete": operation("Delete a rollout policy (409 while an execution uses it)", tag, {
                **reply(DELETED), **json_errors(*AUTH, 409)}, [APP_ID, policy_id]),
        },
        f"{app}/rollout-executions": {
            "get": operation("Rollout executions, newest first", tag, {
                **reply(obj({"executions": array(ref("RolloutExecution")), "total": INTEGER})),
                **json_errors(400, *AUTH)},
                [APP_ID]),
        },
        f"{app}/rollout-executions/{{execution_id}}": {
            "get": operation("A rollout execution with its events", tag, {**execution, **json_errors(*AUTH)},
                             [APP_ID, execution_id]),
        },
    }
    for verb, summary in (("pause", "Pause"), ("resume", "Resume"), ("cancel", "Cancel"),
                          ("advance", "Move to the next stage now (or complete at the last)")):
        paths[f"{app}/rollout-executions/{{execution_id}}/{verb}"] = {"post": operation(
            f"{summary} a rollout execution", tag, {**execution, **json_errors(*AUTH, 409)}, [APP_ID, execution_id])}
    return paths
