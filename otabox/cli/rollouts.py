"""Commands for rollout executions and webhooks, over HTTP like the publishing commands:
`otabox executions list|pause|resume|advance|cancel` and `otabox webhooks list|create|delete|test|deliveries`."""
from __future__ import annotations

import click

from ..core.outbox import EVENTS
from ..core.webhooks import FORMATS
from .common import show_once
from .publish import remote_command, show

EXECUTION_COLUMNS = [("ID", "id"), ("RELEASE", "releaseId"), ("CHANNEL", "channel"), ("VERSION", "bundleVersion"),
                     ("POLICY", "policyName"), ("STATUS", "status"), ("STAGE", "stage"), ("STAGES", "stages"),
                     ("ROLLOUT", "percentage"), ("STAGE SINCE", "stageStartedAt")]
WEBHOOK_COLUMNS = [("ID", "id"), ("URL", "url"), ("EVENTS", "events"), ("APP", "appId"), ("ACTIVE", "isActive"),
                   ("FORMAT", "format")]


@click.group()
def executions():
    """Rollout executions: releases following a rollout policy."""


@executions.command("list")
@click.option("--app", required=True, help="App slug or id.")
@click.option("--status", type=click.Choice(["running", "paused", "completed", "rolled_back", "cancelled"]),
              default=None, help="Only executions in this state.")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True, help="How many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print the server's JSON.")
@remote_command
def executions_list(client, app, status, limit, as_json):
    """List an app's rollout executions, newest first."""
    query = f"?limit={limit}" + (f"&status={status}" if status else "")
    data = client.get(f"/api/v1/apps/{app}/rollout-executions{query}")
    show(data, as_json, EXECUTION_COLUMNS, data["executions"])


def _control(verb: str, help_text: str):
    @click.argument("execution_id", type=int)
    @click.option("--app", required=True, help="App slug or id.")
    @click.option("--json", "as_json", is_flag=True, help="Print the server's JSON.")
    @remote_command
    def command(client, execution_id, app, as_json):
        data = client.post(f"/api/v1/apps/{app}/rollout-executions/{execution_id}/{verb}")
        show(data, as_json, EXECUTION_COLUMNS)

    command.__doc__ = help_text
    executions.command(verb)(command)


_control("pause", "Pause an execution: the rollout stays where it is until resumed.")
_control("resume", "Resume a paused execution.")
_control("advance", "Move an execution to its next stage now (at the last stage: complete it).")
_control("cancel", "Cancel an execution: the rollout stays where it is, the policy stops acting.")


@click.group()
def webhooks():
    """Webhooks: HTTP callbacks for releases, rollouts and health (admin key)."""


@webhooks.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the server's JSON.")
@remote_command
def webhooks_list(client, as_json):
    """List the webhooks."""
    data = client.get("/api/v1/webhooks")
    rows = [{**w, "events": ",".join(w["events"])} for w in data["webhooks"]]
    show(data, as_json, WEBHOOK_COLUMNS, rows)


@webhooks.command("create")
@click.option("--url", required=True, help="Where to POST events (http or https).")
@click.option("--event", "events", multiple=True, type=click.Choice([*EVENTS, "*"]),
              help="An event to send (repeat the option); default every event (codepush: deployment.released).")
@click.option("--app", default=None, help="Only events of this app (slug or id); default every app.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="json", show_default=True,
              help="json: otabox's event body; slack: a Slack incoming-webhook {\"text\"} message; codepush: the "
                   "CodePush multi-tenant server's deployment.released body.")
@click.option("--secret", default=None, help="The signing secret (default: generated and printed once).")
@click.option("--json", "as_json", is_flag=True, help="Print the server's JSON.")
@remote_command
def webhooks_create(client, url, events, app, fmt, secret, as_json):
    """Create a webhook and print its signing secret (shown only this once)."""
    body = {"url": url, "appId": app, "format": fmt, **({"events": list(events)} if events else {})}
    if secret:
        body["secret"] = secret
    data = client.post("/api/v1/webhooks", body)
    if as_json:
        show(data, True, [])
        return
    show({**data, "events": ",".join(data["events"])}, False, WEBHOOK_COLUMNS)
    show_once(data["secret"], "The signing secret", "shown only now; store it where the receiver can read it")


@webhooks.command("delete")
@click.argument("webhook_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the server's JSON.")
@remote_command
def webhooks_delete(client, webhook_id, as_json):
    """Delete a webhook: it gets no more events, and its pending deliveries are dropped."""
    data = client.delete(f"/api/v1/webhooks/{webhook_id}")
    if as_json:
        show(data, True, [])
    else:
        click.echo(f"Deleted webhook {data['id']}.")


@webhooks.command("test")
@click.argument("webhook_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the server's JSON.")
@remote_command
def webhooks_test(client, webhook_id, as_json):
    """Send a webhook.test event to a webhook (the server's delivery worker tries it once, in a moment)."""
    data = client.post(f"/api/v1/webhooks/{webhook_id}/test")
    if as_json:
        show(data, True, [])
    else:
        click.echo(f"Queued webhook.test delivery {data['id']} for webhook {webhook_id}; "
                   f"`otabox webhooks deliveries {webhook_id}` shows its attempt.")


@webhooks.command("deliveries")
@click.argument("webhook_id", type=int)
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True, help="How many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print the server's JSON.")
@remote_command
def webhooks_deliveries(client, webhook_id, limit, as_json):
    """A webhook's recent deliveries with their last attempt."""
    data = client.get(f"/api/v1/webhooks/{webhook_id}/deliveries?limit={limit}")
    rows = []
    for delivery in data["deliveries"]:
        last = delivery["attempts"][-1] if delivery["attempts"] else {}
        rows.append({**delivery, "tries": len(delivery["attempts"]), "code": last.get("statusCode"),
                     "ms": last.get("durationMs"), "error": last.get("error")})
    show(data, as_json, [("DELIVERY", "id"), ("EVENT", "event"), ("STATUS", "status"), ("ATTEMPTS", "tries"),
                         ("LAST CODE", "code"), ("MS", "ms"), ("ERROR", "error"), ("CREATED", "createdAt")], rows)


COMMANDS = (executions, webhooks)
