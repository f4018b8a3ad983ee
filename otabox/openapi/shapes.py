"""The builders every part of the OpenAPI document uses: schemas, parameters, replies in each error
family, operations, and the parameters many routes share."""
from __future__ import annotations

from ..security.auth import PERMISSIONS, ROLES

JSON = "application/json"
TEXT = "text/plain"

STATUS_TEXT = {
    200: "OK", 201: "Created", 202: "Queued; done shortly", 204: "No content", 206: "Partial content",
    304: "Not modified",
    400: "The request is malformed or a field is invalid", 401: "Missing, unknown or expired key or session",
    403: "The key may not do this, or the signed URL is invalid or expired", 404: "No such resource",
    406: "The client cannot accept the reply", 409: "The change conflicts with the current state",
    410: "The upload has expired", 413: "The body is too large", 415: "The body must be JSON",
    416: "The range cannot be satisfied",
    422: "The content is not acceptable (bad zip, mismatched checksum...)", 429: "Too many requests",
    503: "The server is busy (other uploads), or its database or bundle store is briefly unreachable; retry after "
         "Retry-After", 507: "The server's storage is full",
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}


# --- small builders ----------------------------------------------------------------------------

def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "null"}]}


STRING = {"type": "string"}
INTEGER = {"type": "integer"}
BOOLEAN = {"type": "boolean"}
TIMESTAMP = {"type": "string", "format": "date-time"}
PERMISSION = {"enum": list(PERMISSIONS)}
ROLE = {"enum": list(ROLES)}
ANY = {}
"""Any JSON value (a flag value of the flag's type)."""


def obj(properties: dict, required: list[str] | None = None) -> dict:
    """An object schema; every property is required unless `required` names a subset."""
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else required}


def array(items: dict) -> dict:
    return {"type": "array", "items": items}


def body(schema: dict, media_type: str = JSON, required: bool = True) -> dict:
    return {"required": required, "content": {media_type: {"schema": schema}}}


def reply(schema: dict | None = None, status: int = 200, media_type: str = JSON, description: str | None = None
          ) -> dict:
    response = {"description": description or STATUS_TEXT[status]}
    if schema is not None:
        response["content"] = {media_type: {"schema": schema}}
    return {str(status): response}


def error_replies(statuses, content: dict) -> dict:
    """Error responses with the same body; a 429 also tells when to retry."""
    responses = {str(s): {"description": STATUS_TEXT[s], "content": content} for s in statuses}
    for waits in ("429", "503"):
        if waits in responses:
            responses[waits]["headers"] = RETRY_AFTER
    return responses


def json_errors(*statuses: int) -> dict:
    """Responses in otabox's error shape (see components.responses)."""
    return {str(s): {"$ref": f"#/components/responses/Error{s}"} for s in statuses}


def text_errors(*statuses: int) -> dict:
    """CodePush error responses: a plain-text message (the SDK and the CLI show it as is)."""
    return error_replies(statuses, {TEXT: {"schema": STRING}})


def capgo_errors(*statuses: int) -> dict:
    return error_replies(statuses, {JSON: {"schema": ref("CapgoRefusal")}})


def param(name: str, where: str, schema: dict | None = None, required: bool = False, description: str = "") -> dict:
    entry = {"name": name, "in": where, "required": required or where == "path", "schema": schema or STRING}
    if description:
        entry["description"] = description
    return entry


def path(name: str, description: str = "", schema: dict | None = None) -> dict:
    return param(name, "path", schema, description=description)


def query(name: str, schema: dict | None = None, description: str = "", required: bool = False) -> dict:
    return param(name, "query", schema, required, description)


def header(name: str, schema: dict | None = None, description: str = "", required: bool = False) -> dict:
    return param(name, "header", schema, required, description)


def operation(summary: str, tag: str, responses: dict, parameters: list | None = None,
              request_body: dict | None = None, security: list | None = None) -> dict:
    op = {"summary": summary, "tags": [tag], "responses": responses}
    if parameters:
        op["parameters"] = parameters
    if request_body:
        op["requestBody"] = request_body
    if security is not None:
        op["security"] = security
    return op


PUBLIC: list = []
CLIENT_KEY = [{"clientKey": []}]


def error_responses() -> dict:
    statuses = (400, 401, 403, 404, 406, 409, 410, 413, 415, 416, 422, 429, 503, 507)
    shaped = error_replies(statuses, {JSON: {"schema": ref("Error")}})
    return {f"Error{status}": response for status, response in shaped.items()}


APP_ID = path("app_id", "The app's numeric id or its slug")
CHANNEL = path("name", "The channel's name")
KEYED = (401, 403, 429)
"""Any route with a bearer key: missing/unknown key, wrong role or app, too many failed keys."""
AUTH = (*KEYED, 404)
RATE = nullable({"type": "number", "minimum": 0, "maximum": 100})
"""A share of launches in percent (null before the first launch)."""
SIGNED = [query("expires", INTEGER, required=True), query("signature", required=True)]
"""The query of a signed URL (a download, the body of a two-step upload)."""
BLOB = {"type": "string", "contentMediaType": "application/octet-stream"}
DELETED = obj({"deleted": BOOLEAN, "id": INTEGER})
"""The reply of a delete by id."""
REPORT_TAKEN = reply(status=204, description="Accepted (written in the next batch)")
"""The reply to a health report."""
