"""The Flask application factory."""
from __future__ import annotations

import hmac
import logging

from flask import Flask, Request, Response, current_app, jsonify, request, send_from_directory
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Rule

from . import jsonsafe, openapi
from .box import Box
from .config import Config
from .errors import INTERNAL_ERROR, OtaboxError, Unauthorized
from .fastpath import FastPath, client_refusal
from .ops.accesslog import RequestObserver
from .ops.guard import ClientGuard, allowed_hosts
from .store.db import database_failure
from .store.generation import GenerationPublisher
from .web import accepts, base_url, carries_bundle, count_management_request, public_document, rate_limit_headers

error_log = logging.getLogger("otabox")

HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 410: "gone", 413: "too_large",
              415: "unsupported_media_type", 422: "invalid", 429: "rate_limited"}


class OtaboxRequest(Request):
    """Bodies are read up to the bundle limit only where bundles travel (web.BUNDLE_UPLOADS); every
    other body is JSON parsed in memory and gets the small JSON limit."""

    @property
    def max_content_length(self) -> int | None:
        config = current_app.config
        if carries_bundle(self.method, self.path):
            return config["MAX_CONTENT_LENGTH"]
        return config["OTABOX_MAX_JSON_BYTES"]


class LazyRule(Rule):
    """A URL rule that compiles its URL builders when it first builds a URL. werkzeug compiles two
    per rule, as Python code, when the rule is added: most of what starting the app cost (about 0.1 s
    for otabox's routes, at every start and for every test's app), for builders otabox calls for
    nothing but `url_for`. Parsing the rule into the matcher's parts is done once per process too:
    the second app a process builds (each test's) reuses the first one's parts (22 ms an app)."""

    parsed: dict = {}
    """The parsed form (parts, trace, converters, arguments) of each rule this process compiled, by
    what parsing reads; converters are stateless, so apps may share them."""

    def compile(self) -> None:
        if self.defaults:
            return super().compile()
        key = (self.rule, self.subdomain, self.host, self.merge_slashes, self.map.host_matching,
               tuple(self.map.converters.items()))
        if key not in LazyRule.parsed:
            super().compile()
            LazyRule.parsed[key] = (self._parts, self._trace, self._converters, self.arguments)
        parts, trace, converters, arguments = LazyRule.parsed[key]
        self._parts, self._trace, self._converters, self.arguments = list(parts), list(trace), dict(converters), set(
            arguments)
        self._build = self._compile_builder(False).__get__(self, None)
        self._build_unknown = self._compile_builder(True).__get__(self, None)

    def _compile_builder(self, append_unknown: bool = True):
        attribute = "_build_unknown" if append_unknown else "_build"

        def compile_then_build(rule, **values):
            builder = Rule._compile_builder(rule, append_unknown).__get__(rule, None)
            setattr(rule, attribute, builder)
            return builder(**values)
        return compile_then_build


class OtaboxFlask(Flask):
    request_class = OtaboxRequest
    url_rule_class = LazyRule


def create_app(config: Config | None = None, box: Box | None = None, access_log=None) -> Flask:
    """`access_log`: an accesslog.AccessLogWriter for one line per request (the server passes one)."""
    config = config or Config.from_env()
    box = box or Box(config)
    app = OtaboxFlask(__name__, static_folder=None)
    app.config["BOX"] = box
    # Werkzeug's own limit, a little above the bundle limit so multipart overhead fits.
    app.config["MAX_CONTENT_LENGTH"] = config.max_bundle_bytes + 1024 * 1024
    app.config["MAX_FORM_MEMORY_SIZE"] = 1024 * 1024
    app.config["OTABOX_MAX_JSON_BYTES"] = config.max_json_kb * 1024
    app.json = RequestSafeJSON(app)
    app.json.sort_keys = False
    app.url_map.strict_slashes = False

    from .api import account, apps, bundles, collaborators, devices, embedded, flags, meta, releases, rollouts, webhooks
    from .api import health as api_health
    from .downloads import bp as downloads_bp
    from .protocols.appdispatch import evaluations as appdispatch_evaluations
    from .protocols.appdispatch import flags as appdispatch_flags
    from .protocols.appdispatch import branches as appdispatch_branches
    from .protocols.appdispatch import health as appdispatch_health
    from .protocols.appdispatch import policies as appdispatch_policies
    from .protocols.appdispatch import segments as appdispatch_segments
    from .protocols.appdispatch import telemetry as appdispatch_telemetry
    from .protocols.capgo import management as capgo_management
    from .protocols.appdispatch import management as appdispatch_management
    from .protocols.capgo import updates as capacitor
    from .protocols.codepush import accounts as codepush_accounts
    from .protocols.codepush import management as codepush_management
    from .protocols.codepush import updates as codepush
    from .protocols.expo import assets as expo_assets
    from .protocols.expo import updates as expo
    from .protocols.koolbase import management as koolbase_management
    from .protocols.koolbase import updates as flutter
    from .protocols.native import health as native_health
    from .protocols.native import updates as native
    from .protocols.openfeature import ofrep

    for blueprint in (apps.bp, bundles.bp, releases.bp, devices.bp, meta.bp, flags.bp, account.bp, collaborators.bp,
                      codepush_management.api_bp, api_health.bp, rollouts.bp, webhooks.bp, embedded.bp):
        app.register_blueprint(blueprint, url_prefix="/api/v1")
    app.register_blueprint(bundles.uploads_bp)
    app.register_blueprint(downloads_bp)
    for blueprint in (native.bp, codepush.bp, codepush_management.bp, codepush_accounts.bp, capacitor.bp,
                      flutter.bp, expo.bp, expo_assets.bp, ofrep.bp, native_health.bp, appdispatch_health.bp,
                      koolbase_management.bp, capgo_management.bp, appdispatch_management.bp,
                      appdispatch_evaluations.bp, appdispatch_flags.bp, appdispatch_segments.bp,
                      appdispatch_policies.bp, appdispatch_telemetry.bp, appdispatch_branches.bp):
        app.register_blueprint(blueprint)
    app.before_request(count_management_request)
    app.after_request(rate_limit_headers)
    _register_dashboard(app, config)
    _register_errors(app)

    @app.get("/api/v1/openapi.json")
    @accepts()
    def openapi_document():
        """The OpenAPI 3.1 description of the HTTP API (public, like the code it describes)."""
        return public_document(jsonify(openapi.document(app, base_url())), 3600)

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    @app.get("/metrics")
    def metrics():
        """Prometheus text. It names every app, so it needs OTABOX_METRICS_TOKEN as a bearer token,
        unless OTABOX_METRICS_PUBLIC=1 opens it."""
        token = config.metrics_token
        if token:
            if not hmac.compare_digest(request.headers.get("Authorization", "").encode(), f"Bearer {token}".encode()):
                raise Unauthorized("the metrics token is required", code="invalid_metrics_token")
        elif not config.metrics_public:
            raise Unauthorized("/metrics needs a token: set OTABOX_METRICS_TOKEN and send it as a bearer token "
                               "(or OTABOX_METRICS_PUBLIC=1 to open it)", code="metrics_token_not_configured")
        return Response(box.metrics.render(), mimetype="text/plain; version=0.0.4")

    guarded = ClientGuard(GenerationPublisher(FastPath(app.wsgi_app, box), box.generation_signal),
                          box.address_limiter, client_refusal, allowed_hosts(config.public_url, config.allowed_hosts),
                          config.trusted_proxy, config.max_device_json_kb * 1024)
    app.wsgi_app = RequestObserver(guarded, box.metrics, access_log)
    if access_log is not None:
        box.metrics.show_drops("access_log", access_log)

    box.start_background_work()
    return app


class RequestSafeJSON(DefaultJSONProvider):
    """Request JSON goes through `jsonsafe.loads` (ValueError → a 400, or None from a silent get_json)."""

    def loads(self, s, **kwargs):
        return jsonsafe.loads(s, **kwargs)


DASHBOARD_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                               "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def _register_dashboard(app: Flask, config: Config) -> None:
    """The dashboard's files, with a strict CSP (the pages need no inline script or style)."""
    def dashboard_response(filename: str):
        response = send_from_directory(config.dashboard_dir, filename, max_age=0)
        response.headers.update(DASHBOARD_HEADERS)
        return response

    @app.get("/")
    def dashboard_index():
        return dashboard_response("index.html")

    @app.get("/static/<path:filename>")
    def dashboard_file(filename):
        return dashboard_response(filename)


def _register_errors(app: Flask) -> None:
    @app.errorhandler(OtaboxError)
    def otabox_error(exc: OtaboxError):
        return jsonify(exc.to_dict()), exc.status, exc.headers

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        code = HTTP_CODES.get(exc.code, "http_error")
        message, details = exc.description if exc.code != 404 else "no such endpoint", {}
        if exc.code == 405 and exc.valid_methods:
            # What the path does take, so `GET /v1/ota/builds/7` (only DELETE there) says so in the body
            # too; HEAD and OPTIONS, which Flask adds to every route, would only blur it.
            allowed = [m for m in exc.valid_methods if m not in ("HEAD", "OPTIONS")]
            message = f"{request.method} is not accepted on {request.path}: it takes {', '.join(allowed)}"
            details = {"allowed": allowed}
        response = jsonify({"error": {"code": code, "message": message, "details": details}})
        if exc.code == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response, exc.code

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        if (failure := database_failure(exc)) is not None:
            error_log.error("database error on %s %s: %s", request.method, request.path, exc)
            return otabox_error(failure)
        error_log.exception("unexpected error on %s %s", request.method, request.path)
        return jsonify(INTERNAL_ERROR.to_dict()), INTERNAL_ERROR.status
