"""The dashboard in a real browser (Debian's chromium driven by Playwright) against a live `otabox serve`."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
from conftest import LiveServer, make_zip, unsigned
from playwright import sync_api
from playwright.sync_api import expect

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SLUG = "com.example.dash"
# The policy the server is meant to send; the tests add it to the page so any inline script or style fails.
STRICT_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = LiveServer(tmp_path_factory.mktemp("dashboard") / "data")
    yield server
    server.stop()


def new_key(server, role: str, name: str) -> str:
    return server.cli("keys", "create", "--name", name, "--role", role).stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Session:
    """A browser page that records console and page errors; `allowed` lists HTTP statuses a test expects."""

    def __init__(self, browser, server, shots: Path, width=1280, height=800):
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.page.set_default_timeout(10_000)
        self.server, self.shots, self.errors, self.allowed = server, shots, [], set()
        self.page.route("**/*", self._with_csp)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))

    @staticmethod
    def _with_csp(route):
        if route.request.resource_type != "document":
            route.continue_()
            return
        response = route.fetch()
        route.fulfill(response=response, headers={**response.headers, "content-security-policy": STRICT_CSP})

    def _console(self, message):
        if message.type != "error":
            return
        status = re.search(r"status of (\d{3})", message.text)
        if status and int(status.group(1)) in self.allowed:
            return
        self.errors.append(f"console: {message.text}")

    def sign_in(self, key: str, path: str = "#/apps"):
        self.page.goto(f"{self.server.url}/{path}")
        self.page.get_by_label("API key").fill(key)
        self.page.get_by_role("button", name="Sign in").click()

    def shot(self, name: str):
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    def close(self):
        """Close the page and fail on any console or page error it logged."""
        self.shot("last")
        self.context.close()
        assert self.errors == [], self.errors


def api(server, key, method, path, **kw):
    return requests.request(method, server.url + path, headers={"Authorization": f"Bearer {key}"}, timeout=10, **kw)


def device_check(server, client_key, device_id, version="builtin"):
    response = requests.get(f"{server.url}/api/v1/apps/{SLUG}/check", headers={"X-Client-Key": client_key},
                            params={"platform": "ios", "version": version, "deviceId": device_id,
                                    "nativeVersion": "1.0.0", "nativeBuild": "10", "channel": "production"},
                            timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def sessions(browser, server, tmp_path):
    """Open browser sessions; each is closed (with a last screenshot) even when the test fails."""
    opened = []

    def open_session(**viewport):
        opened.append(Session(browser, server, tmp_path, **viewport))
        return opened[-1]

    yield open_session
    for session in opened:
        if session.context.pages:
            session.shot("last")
            session.context.close()


def test_admin_releases_widens_and_rolls_back(server, sessions, tmp_path):
    admin = new_key(server, "admin", "ui")
    session = sessions()
    page = session.page

    session.allowed = {401}
    session.sign_in("otabox_sk_wrong")
    expect(page.get_by_role("alert").filter(has_text="unknown or revoked API key")).to_be_visible()
    session.allowed = set()

    page.get_by_label("API key").fill(admin)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Apps", exact=True).wait_for()
    page.get_by_label("Slug").fill(SLUG)
    page.get_by_label("Name").fill("Dash Demo")
    page.get_by_role("button", name="Create app").click()
    page.get_by_role("heading", name="Connect Dash Demo").wait_for()
    origin = server.url
    expect(page.get_by_text(f'"updateUrl": "{origin}/capgo/updates"')).to_be_visible()
    expect(page.get_by_text(f'"url": "{origin}/expo/{SLUG}/manifest"')).to_be_visible()
    app = api(server, admin, "GET", f"/api/v1/apps/{SLUG}").json()
    expect(page.get_by_text(app["clientKey"]).first).to_be_visible()
    production_key = next(c["deploymentKey"] for c in app["channels"] if c["name"] == "production")
    expect(page.get_by_text(production_key)).to_be_visible()
    session.shot("apps")

    page.get_by_role("link", name="Dash Demo").click()
    page.get_by_role("heading", name="Channels").wait_for()
    zip_path = tmp_path / "bundle.zip"
    zip_path.write_bytes(make_zip({"index.html": "<p>v1.0.1</p>"}))
    page.set_input_files("input[type=file]", str(zip_path))
    page.get_by_label("Version", exact=True).fill("1.0.1")
    page.get_by_role("button", name="Upload bundle").click()
    page.get_by_text("Uploaded 1.0.1").wait_for()
    bundles = api(server, admin, "GET", f"/api/v1/apps/{SLUG}/bundles").json()["bundles"]
    assert [(b["version"], b["size"]) for b in bundles] == [("1.0.1", zip_path.stat().st_size)]

    page.get_by_role("button", name="Release 1.0.1 (all)").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Channel").select_option("production")
    dialog.get_by_label("Rollout %").fill("10")
    dialog.get_by_role("button", name="Release").click()
    page.get_by_text("1.0.1 released to production at 10%.").wait_for()
    release = api(server, admin, "GET", f"/api/v1/apps/{SLUG}/channels/production").json()["currentRelease"]
    assert (release["bundleVersion"], release["rollout"], release["mandatory"]) == ("1.0.1", 10, False)

    page.get_by_label("Rollout percent (production)", exact=True).fill("50")
    page.get_by_role("form", name="Rollout of production").get_by_role("button", name="Apply").click()
    page.get_by_text("now reaches 50% of devices").wait_for()
    assert api(server, admin, "GET", f"/api/v1/apps/{SLUG}/releases/{release['id']}").json()["rollout"] == 50

    for device in ("phone-a", "phone-b", "qa-phone"):
        device_check(server, app["clientKey"], device)
    device_check(server, app["clientKey"], "phone-c", version="1.0.1")
    page.wait_for_timeout(600)
    page.reload()
    page.get_by_role("img", name=re.compile("Active devices per bundle version")).wait_for()
    expect(page.locator("table").filter(has_text="Failure rate").get_by_text("50%").first).to_be_visible()
    session.shot("app")

    page.get_by_role("region", name="production", exact=True).get_by_role("button", name="Roll back…").click()
    page.get_by_role("dialog").get_by_label("Builtin: the bundle shipped in the app binary").check()
    page.get_by_role("dialog").get_by_role("button", name="Roll back").click()
    page.get_by_text("production rolled back to builtin").wait_for()
    current = api(server, admin, "GET", f"/api/v1/apps/{SLUG}/channels/production").json()["currentRelease"]
    assert (current["kind"], current["bundleVersion"]) == ("builtin", "builtin")
    assert unsigned(device_check(server, app["clientKey"], "phone-c", version="1.0.1")) == {
        "updateAvailable": False, "revertToBuiltin": True}

    page.get_by_role("link", name="Devices").first.click()
    page.get_by_role("heading", name="Devices", exact=True).wait_for()
    page.get_by_label("Search device id").fill("qa")
    page.get_by_role("button", name="Search").click()
    page.get_by_text("1–1 of 1").wait_for()
    page.get_by_role("button", name="Pin qa-phone").click()
    page.get_by_role("dialog").get_by_label("Channel").select_option("staging")
    page.get_by_role("dialog").get_by_role("button", name="Pin device").click()
    page.get_by_text("pinned: channel staging").wait_for()
    pinned = api(server, admin, "GET", f"/api/v1/apps/{SLUG}/devices/qa-phone").json()
    assert pinned["override"] == {"channel": "staging", "bundleId": None}
    session.shot("devices")
    page.get_by_role("button", name="Clear pin of qa-phone").click()
    page.get_by_text("Pin of qa-phone cleared.").wait_for()
    assert api(server, admin, "GET", f"/api/v1/apps/{SLUG}/devices/qa-phone").json()["override"]["channel"] is None

    page.get_by_role("link", name="Audit log").click()
    page.get_by_role("heading", name="Audit log").wait_for()
    page.get_by_label("Action").fill("release.rollout_changed")
    page.get_by_role("button", name="Apply filters").click()
    table = page.locator("table")
    expect(table.get_by_text("release.created", exact=True)).to_have_count(0)
    expect(table.get_by_text("release.rollout_changed", exact=True)).to_have_count(1)
    expect(page.get_by_text("API keys are managed from the CLI only")).to_be_visible()
    session.shot("audit")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{server.url}/#/apps/{SLUG}")
    page.get_by_role("heading", name="Channels").wait_for()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways at phone width ({width}px)"
    session.shot("app-phone")
    session.close()


def test_reader_sees_everything_and_cannot_release(server, sessions):
    admin = new_key(server, "admin", "setup")
    reader = new_key(server, "reader", "viewer")
    slug = "com.example.readonly"
    assert api(server, admin, "POST", "/api/v1/apps", json={"slug": slug}).status_code == 201
    upload = api(server, admin, "POST", f"/api/v1/apps/{slug}/bundles", data={"version": "2.0.0"},
                 files={"file": ("b.zip", make_zip())})
    assert upload.status_code == 201, upload.text

    session = sessions()
    page = session.page
    session.sign_in(reader, f"#/apps/{slug}")
    page.get_by_role("heading", name="Channels").wait_for()
    release = page.get_by_role("button", name="Release 2.0.0 (all)")
    expect(release).to_be_disabled()
    expect(page.get_by_role("button", name="Upload bundle")).to_be_disabled()
    expect(page.get_by_text("Read-only: this key has the reader role")).to_be_visible()
    expect(page.locator("#role-note")).to_be_visible()
    expect(page.get_by_text("reader key")).to_be_visible()
    session.shot("reader")

    bundle_id = upload.json()["id"]
    denied = api(server, reader, "POST", f"/api/v1/apps/{slug}/releases",
                 json={"bundleId": bundle_id, "channel": "production"})
    assert denied.status_code == 403
    assert api(server, admin, "GET", f"/api/v1/apps/{slug}/releases").json()["total"] == 0
    session.close()
