"""Helpers every HTTP handler shares: the Box, JSON bodies, who is calling (bearer secrets and session
cookies), the management rate limits, paging, and absolute URLs."""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from urllib.parse import quote

from flask import current_app, g, request
from werkzeug.wsgi import get_host

from . import jsonsafe

from .core.apps import find_app
from .core.audit import Actor
from .errors import BadRequest, Forbidden, OtaboxError, Unauthorized
from .fields import NOTHING, Field, Schema, Whole
from .security import auth, sessions
from .security.auth import Principal
from .security.ratelimit import RateLimited, address_key, limit_key
from .store.models import App


BUNDLE_UPLOADS = (("POST", re.compile(r"/api/v1/apps/[^/]+/bundles")),
                  ("POST", re.compile(r"/api/v1/apps/[^/]+/embedded-bundles")),
                  ("POST", re.compile(r"/apps/[^/]+/deployments/[^/]+/release")),  # the code-push CLI's release
                  ("POST", re.compile(r"/v1/projects/[^/]+/ota/upload")),  # Koolbase's upload
                  ("POST", re.compile(r"/v1/ota/builds")),  # AppDispatch's build upload
                  ("PUT", re.compile(r"/uploads/[^/]+")))
"""The requests whose bodies are bundles: only they may be large and take long to arrive."""


def carries_bundle(method: str, path: str) -> bool:
    """Whether a request to `path` may carry a bundle (bodies of any other request are small JSON)."""
    return any(method == allowed and pattern.fullmatch(path) for allowed, pattern in BUNDLE_UPLOADS)


def box():
    return current_app.config["BOX"]


def json_body(kind=dict):
    """The request's JSON body, which must be of `kind` (dict, or (dict, list))."""
    return json_from(request.get_data(), kind)


def json_from(raw: bytes, kind=dict):
    """A body's JSON (checked by jsonsafe), which must be of `kind`; BadRequest otherwise."""
    if not raw:
        raise BadRequest("a JSON body is required")
    try:
        data = jsonsafe.loads(raw)
    except ValueError:
        raise BadRequest("the body is not valid JSON", code="invalid_json") from None
    if not isinstance(data, kind):
        raise BadRequest("the JSON body has the wrong type", code="invalid_json")
    return data


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CLIENT_BLUEPRINTS = frozenset({"native", "native_health"})
"""Blueprints of client routes under /api/v1 (device update checks and events): they have their
own per-device limits and are not counted as management requests."""
SIGN_IN_ENDPOINT = "api_account.sign_in"
"""The dashboard's sign-in: limited by its own back-offs, never by the hourly windows."""
PUBLIC_DOCUMENT_ENDPOINTS = frozenset({"api_meta.signing_key", "openapi_document"})
"""Public, cacheable documents (the signing keys every app fetches, the OpenAPI description): never
counted against an address's hourly window, so apps behind one NAT are not refused them."""
MANAGEMENT_BLUEPRINTS = frozenset({"codepush_management", "codepush_accounts", "koolbase_management",
                                   "capgo_management", "appdispatch_management", "appdispatch_flags",
                                   "appdispatch_segments", "appdispatch_policies", "appdispatch_telemetry", "appdispatch_branches"})
"""The seeds' management APIs outside /api/v1 (the code-push CLI's, Koolbase's, Capgo's, AppDispatch's
(/v1/ota))."""
BARE_KEY_BLUEPRINTS = frozenset({"capgo_management"})
"""Management APIs whose callers send the key as the whole Authorization header, without "Bearer"."""


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return header.strip() or None if request.blueprint in BARE_KEY_BLUEPRINTS else None


def _session_cookie() -> str | None:
    return request.cookies.get(sessions.COOKIE_NAME) or None


def _authenticate() -> Principal:
    """The principal of the bearer secret, or, without one, of the session cookie; a change made
    with a cookie must carry the CSRF token that came with the session."""
    b = box()
    cookie = _session_cookie()
    bearer = _bearer()
    if bearer is not None or cookie is None:
        principal = auth.authenticate(bearer, "authorization: <key>" if request.blueprint in BARE_KEY_BLUEPRINTS
                                      else "Authorization: Bearer <key>")
        b.usage.token_used(principal.token.id)
        return principal
    session = sessions.find_session(cookie, b.config.session_idle_seconds, b.usage.session_seen_at)
    principal = auth.principal_for(auth.active_user(session.user), session=session)
    if request.method not in SAFE_METHODS and not sessions.csrf_matches(cookie, request.headers.get(
            sessions.CSRF_HEADER)):
        raise Forbidden(f"a change made with a session cookie needs the {sessions.CSRF_HEADER} header that "
                        "POST /api/v1/session returned", code="csrf_required")
    b.usage.session_used(session.id)
    return principal


def principal() -> Principal:
    """Authenticate once per request; the outcome (a principal or the error) is kept for the request.

    Failed bearer secrets are counted per address; past the limit the address gets 429 for a while,
    so keys cannot be guessed at speed (and a valid key from that address waits too)."""
    if "principal" not in g:
        failures = box().auth_failure_limiter
        address = request.remote_addr or "-"
        try:
            failures.check(address)
            g.principal = _authenticate()
        except OtaboxError as exc:
            if isinstance(exc, Unauthorized) and _bearer() and exc.code != "token_expired":
                failures.wait_time(address)
            g.principal = exc
    if isinstance(g.principal, OtaboxError):
        raise g.principal
    return g.principal


def api_key(role: str = "reader", unscoped: bool = False) -> Principal:
    """The request's principal, which must hold `role` somewhere (on the app: see app_for);
    `unscoped`: a key limited to some apps is refused. On a route whose path names no app this is
    the whole authorization, so the request's input is checked next (see `accepts`)."""
    caller = principal()
    auth.require_role(caller, role)
    if unscoped:
        auth.require_unscoped(caller)
    if not APP_PARAMETERS & set(request.view_args or ()):
        inputs()
    return caller


def limit_client(kind: str, device_id: str | None) -> None:
    """Public client endpoints: at most the configured rate per device (or address), else 429."""
    box().client_limiter.take(limit_key(kind, device_id, request.remote_addr))


def event_admission():
    """`admit(device_id, size)` for core.devices.store_events: the box's daily event budget, counted
    for this request's device and address."""
    budget, address = box().event_budget, request.remote_addr
    return lambda device_id, size: budget.admit(device_id, address, size)


def actor() -> Actor:
    caller = principal()
    return Actor(caller.name, caller.token.name if caller.token is not None else None)


def app_for(app_id: str, role: str = "reader") -> App:
    """The app named in the path (id, slug or unique name), which the principal must reach with `role`."""
    caller = api_key(role)
    app = find_app(app_id, among=caller.visible(App.select()))
    auth.require_app(caller, app, role)
    inputs()
    return app


# --- what a management route accepts -----------------------------------------------------------------

APP_PARAMETERS = frozenset({"app_id", "app_name", "project_id"})
"""Path parameters that name an app: on such routes authorization ends when the app is found and reached."""


@dataclass(frozen=True)
class Accepted:
    """What a route accepts: the fields of its JSON body (or of its multipart form and the names of
    its file fields) and of its query string."""

    body: Schema = NOTHING
    query: Schema = NOTHING
    form: Schema | None = None
    files: tuple[str, ...] = ()


def accepts(body: Schema = NOTHING, query: Schema = NOTHING, form: Schema | None = None, files: tuple = ()):
    """Declare what a management route accepts; anything else is refused with a 400 naming the field.

    The check runs once authorization is done (`app_for`, `api_key`, or a protocol's own app lookup
    calling `inputs()`), so a caller learns nothing of a body before 401, 403 or 404; the view reads
    the clean values with `body()` and `query()`. A route that never authorizes is checked when it
    first reads its input, or after it answers (a public read)."""
    declared = Accepted(body, query, form, tuple(files))

    def mark(view):
        @functools.wraps(view)
        def checked(*args, **kwargs):
            g.accepted = declared
            answer = view(*args, **kwargs)
            inputs()
            return answer
        checked.accepted = declared
        return checked
    return mark


def inputs() -> tuple[dict, dict]:
    """The request's clean query and body as its route declares them (checked once per request)."""
    declared = g.get("accepted")
    if declared is None:
        return {}, {}
    if "inputs" not in g:
        try:
            g.inputs = (_checked_query(declared), _checked_body(declared))
        except OtaboxError as exc:
            g.inputs = exc
    if isinstance(g.inputs, OtaboxError):
        raise g.inputs
    return g.inputs


def body() -> dict:
    return inputs()[1]


def query() -> dict:
    return inputs()[0]


def uploaded_file(field: str = "file"):
    """The file part `field` of a multipart upload; a BadRequest naming what to send otherwise."""
    if request.mimetype != "multipart/form-data":
        raise BadRequest(f"send multipart/form-data with the file field '{field}'", code="expected_multipart")
    upload = request.files.get(field)
    if upload is None:
        raise BadRequest(f"the file field '{field}' is missing", details={"field": field})
    return upload


def paging(limit: int) -> Schema:
    """The query of a list: `limit` (default `limit`, at most 500) and `offset`."""
    return Schema({"limit": Whole(1, 500, default=limit), "offset": Whole(0, 10**9, default=0)})


def _checked_query(declared: Accepted) -> dict:
    """The query's clean values; a name the route takes in its body (a Capgo DELETE's `app_id` sent
    as `?app_id=`) is refused with where to send it instead of a bare "accepted: none"."""
    body_names = (declared.form or declared.body).known
    misplaced = {name: "send it in the JSON body (Content-Type: application/json), not in the query string"
                 for name in request.args if name in body_names and name not in declared.query.known}
    schema = declared.query.extend(hints=misplaced) if misplaced else declared.query
    repeated = next((name for name in request.args if len(request.args.getlist(name)) > 1), None)
    if repeated is not None:
        raise BadRequest(f"give {repeated} once in the query", details={"field": repeated})
    return schema.validate_text(request.args)


def _checked_body(declared: Accepted) -> dict:
    if declared.form is not None:
        if request.mimetype != "multipart/form-data":
            return {}  # the view says what it expects
        unknown = next((name for name in request.files if name not in declared.files), None)
        if unknown is not None:
            raise Schema(dict.fromkeys(declared.files, Field())).unknown(unknown)
        return declared.form.validate_text(request.form.to_dict())
    raw = request.get_data()  # the bytes whatever the Content-Type: curl's `-d` labels JSON as a form
    if not raw:
        return declared.body.validate({})
    try:
        data = json_from(raw)
    except BadRequest as exc:
        sent_as = "" if request.mimetype in ("", "application/json") else f" (it came as {request.mimetype})"
        raise BadRequest(f"{exc.message}{sent_as}: send a JSON object with 'Content-Type: application/json'",
                         code=exc.code) from None
    return declared.body.validate(data)


def is_management_request() -> bool:
    if request.blueprint in MANAGEMENT_BLUEPRINTS:
        return True
    return request.path.startswith("/api/v1/") and request.blueprint not in CLIENT_BLUEPRINTS


def count_management_request() -> None:
    """Before a management request: count it against its token or session (or, unauthenticated,
    its address) for the hourly limits, and refuse it with 429 past them. Signing in is not counted:
    it has limits of its own, and an address's keyless requests must not lock it out of signing in;
    nor are the public documents (PUBLIC_DOCUMENT_ENDPOINTS)."""
    if not is_management_request() or request.endpoint == SIGN_IN_ENDPOINT \
            or request.endpoint in PUBLIC_DOCUMENT_ENDPOINTS:
        return
    b = box()
    caller = None
    if _bearer() is not None or _session_cookie() is not None:
        try:
            caller = principal()
        except OtaboxError:
            caller = None
    if caller is not None:
        limiter, key = b.api_limiter, f"{caller.via}:{(caller.token or caller.session).id}"
    else:
        limiter, key = b.anonymous_limiter, f"address:{address_key(request.remote_addr)}"
    if limiter.enabled:
        quota = g.quota = limiter.take(key)
        if quota.retry_after:
            raise RateLimited(quota.retry_after)


def public_document(response, max_age: int):
    """A public, cacheable document: Cache-Control for `max_age` seconds and an ETag, answered 304
    when the client already has it."""
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    response.add_etag()
    return response.make_conditional(request)


def rate_limit_headers(response):
    """After a management request: X-RateLimit-Limit, -Remaining and -Reset (unix seconds)."""
    quota = g.get("quota")
    if quota is not None:
        response.headers.update(quota.headers())
    return response


def set_session_cookie(response, secret: str, max_age: int) -> None:
    """HttpOnly (no script reads it), SameSite=Strict (no other site sends it), Secure over https; and
    beside it a cookie without a secret that tells the dashboard a session may exist, so a page load
    without one does not ask (and log a 401)."""
    secure = box().config.public_url.startswith("https://") or request.is_secure
    response.set_cookie(sessions.COOKIE_NAME, secret, max_age=max_age, path="/", secure=secure, httponly=True,
                        samesite="Strict")
    response.set_cookie(sessions.HINT_COOKIE_NAME, "1", max_age=max_age, path="/", secure=secure, samesite="Strict")


def clear_session_cookie(response) -> None:
    response.delete_cookie(sessions.COOKIE_NAME, path="/", httponly=True, samesite="Strict")
    response.delete_cookie(sessions.HINT_COOKIE_NAME, path="/", samesite="Strict")


def request_origin(environ, public_url: str) -> str:
    """The origin generated URLs start with: OTABOX_PUBLIC_URL, else the request's own."""
    return public_url.rstrip("/") if public_url else f"{environ['wsgi.url_scheme']}://{get_host(environ)}"


def base_url() -> str:
    return request_origin(request.environ, box().config.public_url)


def json_bytes(data) -> bytes:
    """Compact JSON, as replies to update checks are sent (with or without Flask)."""
    return json.dumps(data, separators=(",", ":")).encode()


def json_response(data, status: int = 200):
    """A JSON response without the provider's generality (update checks answer thousands of these)."""
    return current_app.response_class(json_bytes(data), status=status, mimetype="application/json")


def signed_query(*names: str) -> tuple[str | None, ...]:
    """The values of a signed URL's parameters `names`, each None unless the URL is spelled as it was
    signed: every one of them present, no parameter repeated, no trailing slash on the path (a
    signature verifies one URL, not its variants, which caches and logs would count apart)."""
    args = request.args
    if request.path.endswith("/") or any(len(values) > 1 for values in args.listvalues()) \
            or any(name not in args for name in names):
        return (None,) * len(names)
    return tuple(args[name] for name in names)


def signed_download_url(sha256: str, kind: str = "zip", b=None, base: str | None = None, ttl: int | None = None
                        ) -> tuple[str, int]:
    """An absolute, expiring, HMAC-signed URL for a blob (the download endpoint checks it), valid for
    `ttl` seconds (default OTABOX_URL_TTL). Every query value is percent-encoded: a content type such as
    image/svg+xml would otherwise arrive as a space."""
    b = b or box()
    query, expires = b.secrets.url_signer.reusable_query("download", f"{sha256}:{kind}", ttl or b.config.url_ttl)
    return f"{base or base_url()}/dl/{sha256}?type={quote(kind, safe='')}&{query}", expires


def signed_download_urls(sha256s, kind: str, b, base: str | None, bucket: int) -> list[str]:
    """`signed_download_url` for many blobs at once (a manifest's files), signed for the minute ending
    at `bucket` (UrlSigner.reuse_bucket) and kept by the caller, so they do not crowd out the signer's
    reusable signatures."""
    signer, ttl, kind_query, base = b.secrets.url_signer, b.config.url_ttl, quote(kind, safe=''), base or base_url()
    return [f"{base}/dl/{sha256}?type={kind_query}&{signer.query('download', f'{sha256}:{kind}', ttl, now=bucket)[0]}"
            for sha256 in sha256s]
