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
        self.use_key(key)

    def use_key(self, key: str):
        """Sign in with an API key (the sign-in page's alternative to email and password)."""
        self.page.get_by_text("Use an API key or access token instead").click()
        self.page.get_by_label("API key").fill(key)
        self.page.get_by_role("button", name="Use this key").click()

    def shot(self, name: str):
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    def close(self):
        """Close the page and fail on any console or page error it logged."""
        self.shot("last")
        self.context.close()
        assert self.errors == [], self.errors


CUT_OFF = """() => {
  const width = document.documentElement.clientWidth;
  const unseen = (el) => el.closest(".visually-hidden, .skip-link, thead")
    || (el.closest("details:not([open])") && !el.closest("summary"));
  return [...document.querySelectorAll("body *")].filter((el) => {
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && (box.right > width + 1 || box.left < -1) && !unseen(el);
  }).map((el) => `${el.tagName.toLowerCase()}.${el.className} (${Math.round(el.getBoundingClientRect().right)}px): `
    + (el.textContent || "").trim().slice(0, 40));
}"""


def assert_nothing_cut_off(page):
    """Nothing sticks out of the viewport (or hides in a sideways-scrolling box)."""
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    assert page.evaluate(CUT_OFF) == []


def box_of(locator) -> dict:
    return locator.bounding_box()


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
    expect(page.locator("#sidebar")).to_be_hidden()
    session.shot("signin")
    session.allowed = set()

    page.get_by_label("API key").fill(admin)
    page.get_by_role("button", name="Use this key").click()
    page.get_by_role("heading", name="Apps", exact=True).wait_for()
    expect(page.locator("#sidebar")).to_be_visible()
    create, slug_input = page.get_by_role("button", name="Create app"), page.get_by_label("Slug")
    assert abs(box_of(create)["y"] - box_of(slug_input)["y"]) <= 1
    assert abs(box_of(create)["height"] - box_of(slug_input)["height"]) <= 1
    session.allowed = {422}
    slug_input.fill("not a slug!")
    create.click()
    expect(page.get_by_role("alert")).to_have_count(1)
    session.allowed = set()
    page.get_by_label("Slug").fill(SLUG)
    page.get_by_label("Name").fill("Dash Demo")
    page.get_by_role("button", name="Create app").click()
    page.get_by_role("heading", name="Connect Dash Demo").wait_for()
    expect(page.get_by_role("alert")).to_have_count(0)  # the earlier error went when creating succeeded
    origin = server.url
    expect(page.get_by_text(f'"updateUrl": "{origin}/capgo/updates"')).to_be_visible()
    expect(page.get_by_text(f'"url": "{origin}/expo/{SLUG}/manifest"')).to_be_visible()
    app = api(server, admin, "GET", f"/api/v1/apps/{SLUG}").json()
    expect(page.get_by_text(app["clientKey"]).first).to_be_visible()
    production_key = next(c["deploymentKey"] for c in app["channels"] if c["name"] == "production")
    expect(page.get_by_text(production_key)).to_be_visible()
    session.shot("apps")
    assert_nothing_cut_off(page)

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

    assert box_of(page.get_by_label("Rollout percent (production) slider"))["width"] >= 200
    page.get_by_label("Rollout percent (production)", exact=True).fill("50")
    page.get_by_role("form", name="Rollout of production").get_by_role("button", name="Apply").click()
    page.get_by_text("now reaches 50% of devices").wait_for()
    assert api(server, admin, "GET", f"/api/v1/apps/{SLUG}/releases/{release['id']}").json()["rollout"] == 50

    for device in ("phone-a", "phone-b", "qa-phone"):
        device_check(server, app["clientKey"], device)
    device_check(server, app["clientKey"], "phone-c", version="1.0.1")
    reports = [{"deviceId": "phone-c", "bundleId": release["bundleId"], "type": "installed"},
               {"deviceId": "phone-a", "bundleId": release["bundleId"], "type": "failed", "message": "unzip"}]
    assert requests.post(f"{server.url}/api/v1/apps/{SLUG}/events", json=reports, timeout=10,
                         headers={"X-Client-Key": app["clientKey"]}).json()["stored"] == 2
    page.wait_for_timeout(600)
    page.reload()
    session.use_key(admin)  # a pasted key lives in the page only: a reload signs out
    page.get_by_role("img", name=re.compile("Active devices per bundle version")).wait_for()
    rate = page.locator("table").filter(has_text="Failure rate").get_by_text("50.0% failed")
    expect(rate).to_have_class(re.compile("badge-danger"))
    expect(rate).to_have_attribute("title", "More than 5% of installs failed")
    session.shot("app")
    assert_nothing_cut_off(page)

    page.get_by_role("link", name="Apps", exact=True).click()
    row = page.get_by_role("row").filter(has_text="Dash Demo")
    expect(row.get_by_role("cell").nth(2)).to_have_text(re.compile(r"^1\.0\.1\s*50%\s*v1$"))
    expect(row.get_by_role("cell").nth(3)).to_have_text("4")
    session.shot("apps-list")
    page.get_by_role("link", name="Dash Demo").click()

    session.allowed = {409}
    page.get_by_role("region", name="production", exact=True).get_by_role("button", name="Roll back…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.locator(".outcome")).to_have_text(
        "there is no earlier release to roll back to; roll back to builtin instead")
    dialog.get_by_label("Builtin: the bundle shipped in the app binary").check()
    expect(dialog.locator(".outcome")).to_have_text(
        "production will serve the bundle built into the app (v2) to 100% of devices: they drop their downloaded "
        "update.")
    session.shot("rollback-dialog")
    session.allowed = set()
    dialog.get_by_role("button", name="Roll back").click()
    page.get_by_text("production now serves the bundle built into the app (v2) to 100% of devices").wait_for()
    current = api(server, admin, "GET", f"/api/v1/apps/{SLUG}/channels/production").json()["currentRelease"]
    assert (current["kind"], current["bundleVersion"]) == ("builtin", "builtin")
    assert unsigned(device_check(server, app["clientKey"], "phone-c", version="1.0.1")) == {
        "updateAvailable": False, "revertToBuiltin": True, "reason": "revert_to_builtin"}

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
    expect(table.get_by_role("listitem").filter(has_text="before.rollout")).to_have_text("before.rollout: 10")
    expect(table.get_by_role("listitem").filter(has_text="after.rollout")).to_have_text("after.rollout: 50")
    expect(page.get_by_text("API keys are managed from the CLI only")).to_be_visible()
    session.shot("audit")

    page.set_viewport_size({"width": 375, "height": 812})
    for route, heading, shot in ((f"#/apps/{SLUG}", "Channels", "app-phone"), ("#/apps", "Apps", "apps-phone"),
                                 (f"#/apps/{SLUG}/devices", "Devices", "devices-phone"),
                                 ("#/audit", "Audit log", "audit-phone")):
        page.goto(f"{server.url}/{route}")
        page.get_by_role("heading", name=heading, exact=True).wait_for()
        page.wait_for_load_state("networkidle")
        session.shot(shot)
        assert_nothing_cut_off(page)
    session.close()


def test_build_metadata_and_channel_settings(server, sessions, tmp_path):
    admin = new_key(server, "admin", "settings")
    slug = "com.example.settings"
    assert api(server, admin, "POST", "/api/v1/apps", json={"slug": slug}).status_code == 201
    uploaded = api(server, admin, "POST", f"/api/v1/apps/{slug}/bundles", files={"file": ("b.zip", make_zip())},
                   data={"version": "2.0.0", "message": "Faster cart", "gitBranch": "main",
                         "gitCommitHash": "0123456789abcdef"})
    assert uploaded.status_code == 201, uploaded.text
    pinned = api(server, admin, "POST", f"/api/v1/apps/{slug}/user-overrides",
                 json={"userId": "user-123", "branchName": "staging", "note": "QA tester"})
    assert pinned.status_code == 201, pinned.text
    session = sessions()
    page = session.page
    session.sign_in(admin, f"#/apps/{slug}")
    page.get_by_role("heading", name="Channels").wait_for()
    expect(page.get_by_role("table", name="Bundles").get_by_text("Faster cart (main @ 0123456)")).to_be_visible()
    expect(page.get_by_role("region", name="User overrides").get_by_text("→ branch staging")).to_be_visible()
    expect(page.get_by_role("region", name="production", exact=True).get_by_text("default")).to_be_visible()

    page.get_by_role("button", name="Settings of staging").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Default channel (devices that name none get it)").check()
    dialog.get_by_label("Block automatic upgrades").select_option("version_number")
    dialog.get_by_label("Never offer a bundle below the native version").uncheck()
    dialog.get_by_label("Split devices to branch").select_option("production")
    dialog.get_by_label("Split share %").fill("25")
    dialog.get_by_label("Min runtime version (Expo)").fill("2.0.0")
    dialog.get_by_role("button", name="Save settings").click()
    page.get_by_text("staging: settings saved.").wait_for()
    staging = api(server, admin, "GET", f"/api/v1/apps/{slug}/channels/staging").json()
    assert {k: staging[k] for k in ("public", "blockUpgrades", "disableAutoUpdateUnderNative", "branch",
                                    "rolloutBranch", "rolloutPercentage", "minRuntimeVersion")} == {
        "public": True, "blockUpgrades": "version_number", "disableAutoUpdateUnderNative": False,
        "branch": "staging", "rolloutBranch": "production", "rolloutPercentage": 25, "minRuntimeVersion": "2.0.0"}
    staging_card = page.get_by_role("region", name="staging", exact=True)
    expect(staging_card.get_by_text("25% → branch production")).to_be_visible()
    expect(staging_card.get_by_text("Serves branch staging; 25% of its devices get branch production")).to_be_visible()
    session.shot("channel-settings")
    session.close()


def test_channel_settings_point_a_channel_at_another_branch_and_split_it_to_a_third(server, sessions):
    """A channel made for testers serves the staging branch, then sends half of its devices to a branch no
    channel serves; the split never offers the branch served. What devices get follows each save."""
    admin = new_key(server, "admin", "branches")
    slug = "com.example.branches"
    created = api(server, admin, "POST", "/api/v1/apps", json={"slug": slug}).json()
    for version, channel in (("1.0.0", "production"), ("2.0.0", "staging")):
        bundle = api(server, admin, "POST", f"/api/v1/apps/{slug}/bundles", files={"file": ("b.zip", make_zip())},
                     data={"version": version}).json()
        assert api(server, admin, "POST", f"/api/v1/apps/{slug}/releases",
                   json={"bundleId": bundle["id"], "channel": channel}).status_code == 201
    assert api(server, admin, "POST", f"/api/v1/apps/{slug}/channels", json={"name": "testers"}).status_code == 201
    assert api(server, admin, "POST", f"/api/v1/apps/{slug}/branches", json={"name": "hotfix"}).status_code == 201

    def served(device_id):
        reply = requests.get(f"{server.url}/api/v1/apps/{slug}/check", headers={"X-Client-Key": created["clientKey"]},
                             params={"platform": "ios", "version": "builtin", "deviceId": device_id,
                                     "channel": "testers"}, timeout=10).json()
        return reply["bundle"]["version"] if reply["updateAvailable"] else None

    session = sessions()
    page = session.page
    session.sign_in(admin, f"#/apps/{slug}")
    testers = page.get_by_role("region", name="testers", exact=True)
    expect(testers.get_by_text("Serves branch testers", exact=True)).to_be_visible()
    page.get_by_role("button", name="Settings of testers").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Serves branch").select_option("staging")
    expect(dialog.get_by_label("Split devices to branch").locator("option[value=staging]")).to_be_disabled()
    dialog.get_by_role("button", name="Save settings").click()
    expect(dialog).to_be_hidden()  # closed once saved and the cards reloaded
    expect(testers.get_by_text("Serves branch staging", exact=True)).to_be_visible()
    assert served("phone-1") == "2.0.0"

    page.get_by_role("button", name="Settings of testers").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Serves branch")).to_have_value("staging")
    dialog.get_by_label("Split devices to branch").select_option("hotfix")
    dialog.get_by_label("Split share %").fill("100")
    dialog.get_by_role("button", name="Save settings").click()
    expect(dialog).to_be_hidden()  # closed once saved and the cards reloaded
    expect(testers.get_by_text("100% → branch hotfix")).to_be_visible()
    expect(testers.get_by_text("Serves branch staging; 100% of its devices get branch hotfix")).to_be_visible()
    channel = api(server, admin, "GET", f"/api/v1/apps/{slug}/channels/testers").json()
    assert (channel["branch"], channel["rolloutBranch"], channel["rolloutPercentage"]) == ("staging", "hotfix", 100)
    assert served("phone-1") is None  # the hotfix branch holds no release yet: the bundle in the binary

    page.get_by_role("button", name="Settings of testers").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Serves branch").select_option("hotfix")  # serving the split's branch ends the split
    expect(dialog.get_by_label("Split devices to branch")).to_have_value("")
    dialog.get_by_role("button", name="Save settings").click()
    expect(dialog).to_be_hidden()  # closed once saved and the cards reloaded
    channel = api(server, admin, "GET", f"/api/v1/apps/{slug}/channels/testers").json()
    assert (channel["branch"], channel["rolloutBranch"]) == ("hotfix", None)
    expect(testers.get_by_text("Serves branch hotfix", exact=True)).to_be_visible()
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


def test_people_sign_in_with_email_and_password_and_manage_their_tokens(server, sessions):
    password = "ops team passphrase"
    server.cli("users", "create", "--email", "ops@example.com", "--role", "member", "--password-stdin", input=password)
    admin = new_key(server, "admin", "people-setup")
    slug = "com.example.people"
    assert api(server, admin, "POST", "/api/v1/apps", json={"slug": slug}).status_code == 201
    assert api(server, admin, "POST", f"/api/v1/apps/{slug}/collaborators",
               json={"email": "ops@example.com", "permission": "Collaborator"}).status_code == 201

    session = sessions()
    page = session.page
    page.goto(f"{server.url}/#/apps")
    session.allowed = {401}
    page.get_by_label("Email").fill("ops@example.com")
    page.get_by_label("Password").fill("not the passphrase")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert").filter(has_text="wrong email or password")).to_be_visible()
    session.allowed = set()
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Apps", exact=True).wait_for()
    expect(page.get_by_role("link", name=slug)).to_be_visible()
    expect(page.get_by_text("ops@example.com")).to_be_visible()
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert "otabox_session" not in page.evaluate("document.cookie"), "the session cookie is HttpOnly"
    page.reload()
    page.get_by_role("heading", name="Apps", exact=True).wait_for()

    page.get_by_role("link", name="Access tokens").click()
    page.get_by_role("heading", name="Access tokens").wait_for()
    page.get_by_label("Name").fill("ci")
    page.get_by_label("Role").select_option("publisher")
    page.get_by_label(slug).check()
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("code.secret").inner_text()
    me = api(server, secret, "GET", "/api/v1/me").json()
    assert (me["name"], me["apps"]) == ("ops@example.com", [{"id": me["apps"][0]["id"], "slug": slug,
                                                              "role": "publisher"}])
    session.shot("tokens")
    page.get_by_role("button", name="Revoke ci").click()
    page.get_by_role("dialog").get_by_role("button", name="Revoke").click()
    page.get_by_text("Token ci revoked.").wait_for()
    assert api(server, secret, "GET", "/api/v1/me").status_code == 401

    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in to otabox").wait_for()
    page.reload()
    page.get_by_role("heading", name="Sign in to otabox").wait_for()
    session.close()


def test_koolbase_numbers_and_the_active_bundle(server, sessions):
    """Bundles uploaded Koolbase's way carry a whole number per channel: the channel card names the
    active one, the bundle list each bundle's number (and where it is active), the history each release's."""
    admin = new_key(server, "admin", "numbers")
    slug = "com.example.numbers"
    assert api(server, admin, "POST", "/api/v1/apps", json={"slug": slug}).status_code == 201
    ids = []
    for content in ("1", "2"):
        uploaded = api(server, admin, "POST", f"/v1/projects/{slug}/ota/upload",
                       files={"bundle": ("b.zip", make_zip({"a": content}))}, data={"channel": "production"})
        assert uploaded.status_code == 201, uploaded.text
        ids.append(uploaded.json()["id"])
    for bundle_id in ids:
        assert api(server, admin, "POST", f"/v1/projects/{slug}/ota/bundles/{bundle_id}/activate").status_code == 200
    session = sessions()
    page = session.page
    session.sign_in(admin, f"#/apps/{slug}")
    production = page.get_by_role("region", name="production", exact=True)
    expect(production.get_by_text("Active bundle: channel version 2")).to_be_visible()
    rows = page.get_by_role("table", name="Bundles").get_by_role("row")
    expect(rows.nth(1).get_by_role("cell").first.locator(".channel-versions")).to_have_text("production 2 active")
    expect(rows.nth(2).get_by_role("cell").first.locator(".channel-versions")).to_have_text("production 1")
    history = page.get_by_role("table", name="Release history of production")
    expect(history.get_by_role("row").nth(1).get_by_role("cell").nth(2)).to_contain_text("channel version 2")
    assert_nothing_cut_off(page)
    session.shot("koolbase-numbers")
    session.close()
