"""A new user's first hour, as README.md tells it: install a copy of this checkout with the README's
own run command (a new virtualenv, not editable), start `otabox serve` from an unrelated folder with
the default data directory, paste every ```sh block of the README into bash, and load the dashboard.
The sdist and wheel are built too, and must carry the dashboard.

The install costs about half a minute, once per run (module-scoped fixtures)."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import urllib.parse
import zipfile
from pathlib import Path

import pytest
import requests
from conftest import ROOT, answers_health, free_port

pytestmark = pytest.mark.single_engine  # the README's commands, on the default SQLite, whatever the suite's engine

README = (ROOT / "README.md").read_text()
STATIC = ROOT / "static"
SKIPPED_PARTS = {".git", ".venv", "venv", "node_modules", "data", "build", ".setuptools-build", "dist", "otabox-binary",
                 ".otabox-binary-work", "__pycache__", ".pytest_cache", ".hypothesis"}


def indented_command(after: str) -> str:
    """The indented command line that follows the README paragraph starting with `after`."""
    match = re.search(re.escape(after) + r".*?\n\n    (\S[^\n]*)\n", README, re.S)
    assert match, f"no command after {after!r} in README.md"
    return match.group(1)


def sh_blocks() -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", README, re.S | re.M)


def static_files() -> set[str]:
    return {p.relative_to(STATIC).as_posix() for p in STATIC.rglob("*") if p.is_file()}


def copy_checkout(dest: Path) -> Path:
    """The checkout's files as a fresh clone would have them (plus uncommitted ones), nothing built."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True)
    if listed.returncode == 0:
        names = [n for n in listed.stdout.split("\0") if n]
    else:
        names = [p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*") if p.is_file()]
    for name in names:
        source = ROOT / name
        if SKIPPED_PARTS & set(Path(name).parts) or source.is_symlink() or not source.is_file():
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest / name)
    return dest


def clean_env(**extra) -> dict:
    """The environment without any OTABOX_* setting or virtualenv of the test run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTABOX_") and k != "VIRTUAL_ENV"}
    return {**env, **extra}


def run(command, cwd, env=None, timeout=600) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, env=env or clean_env(), capture_output=True, text=True,
                            timeout=timeout, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def test_the_readme_test_command_is_what_ci_runs():
    command = indented_command("Run the tests")
    assert command == "bash tests/install.sh && bash tests/both-engines.sh"
    assert (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1] == command


def test_the_readme_examples_use_the_ids_the_server_returned():
    """Ids depend on what the box holds already: an example that names one works only on a new box."""
    hard_coded = re.findall(r"/(?:apps|flags|bundles|releases|segments|rules|webhooks|rollout-policies)/\d+\b",
                            "\n".join(sh_blocks()))
    assert hard_coded == []


def test_what_the_quick_start_leaves_behind_is_ignored_by_git_and_docker():
    """Pasted in the checkout, the quick start's files must not end up in a commit or an image."""
    leftovers = {"bundle.zip", "update.zip", "check.json", "key.pem"}
    assert all(name in README for name in leftovers)
    assert {f"/{name}" for name in leftovers} <= set((ROOT / ".gitignore").read_text().split())
    assert leftovers <= set((ROOT / ".dockerignore").read_text().split())


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    return copy_checkout(tmp_path_factory.mktemp("first-hour") / "otabox")


@pytest.fixture(scope="module")
def venv_bin(checkout) -> Path:
    """The README's run command, up to `otabox serve`, run in a copy of the checkout."""
    command = indented_command("Run the server from a checkout")
    install, serve = command.rsplit(" && ", 1)
    assert install == "python3 -m venv .venv && .venv/bin/pip install ." and serve == ".venv/bin/otabox serve"
    run(["bash", "-euo", "pipefail", "-c", install], cwd=checkout)
    installed = run([str(checkout / ".venv/bin/python"), "-c", "import otabox; print(otabox.__file__)"], cwd="/")
    assert "site-packages" in installed.stdout, "the README's install must not be editable"
    return checkout / ".venv" / "bin"


def test_the_sdist_and_the_wheel_carry_the_dashboard(checkout, tmp_path):
    """`python -m build` makes the sdist, then the wheel from the sdist: both must hold static/."""
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp_path), str(checkout)], cwd=checkout)
    (sdist,), (wheel,) = tmp_path.glob("*.tar.gz"), tmp_path.glob("*.whl")
    with tarfile.open(sdist) as archive:
        in_sdist = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = set(archive.namelist())
    assert {f"static/{name}" for name in static_files()} <= in_sdist
    assert {f"otabox/static/{name}" for name in static_files()} <= in_wheel
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "otabox").rglob("*.py")}
    assert modules <= in_wheel and modules <= in_sdist


class InstalledServer:
    """`otabox serve` of the installed copy, started in `cwd` with nothing but the port configured."""

    def __init__(self, venv_bin: Path, cwd: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.cwd, self.log_path = cwd, cwd.parent / "serve.log"
        self.env = clean_env(OTABOX_PORT=str(self.port), PATH=f"{venv_bin}{os.pathsep}{os.environ['PATH']}")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen([str(venv_bin / "otabox"), "serve"], cwd=cwd, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if answers_health(self.url, 30, self.process):
            return
        self.stop()
        raise RuntimeError("the installed otabox did not start:\n" + self.log())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)


@pytest.fixture(scope="module")
def installed_server(venv_bin, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "work"
    elsewhere.mkdir()
    server = InstalledServer(venv_bin, elsewhere)
    yield server
    server.stop()


def test_serve_says_where_its_data_is_and_how_to_make_the_first_key(installed_server):
    log = installed_server.log()
    data_dir = installed_server.cwd / "data"
    assert f"data directory: {data_dir}" in log
    assert f"otabox keys create --name admin --role admin --data-dir {shlex.quote(str(data_dir))}" in log
    assert f"listening on {installed_server.url}" in log and f"dashboard: {installed_server.url}/" in log


def test_the_readme_shell_blocks_run_as_written(installed_server):
    """Then the quick start again, as someone pasting it a second time does: it runs through."""
    blocks = sh_blocks()
    assert len(blocks) >= 2, "README.md has the quick start and the CI block as ```sh blocks"
    script = "\n".join(blocks)
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=installed_server.cwd,
                            env=installed_server.env, capture_output=True, text=True, timeout=300,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    out = result.stdout
    assert '"updateAvailable": true' in out and "update.zip: OK" in out
    work = installed_server.cwd
    uploaded, downloaded = (work / "bundle.zip").read_bytes(), (work / "update.zip").read_bytes()
    assert downloaded == uploaded
    assert json.loads((work / "check.json").read_text())["bundle"]["sha256"] == hashlib.sha256(downloaded).hexdigest()
    assert "production now serves 1.0.1" in out
    assert re.search(r"^\s*\d+\s+com\.example\.app\s+otabox_ck_", out, re.M), "otabox apps list shows the app"
    assert (work / "data" / "otabox.db").is_file()
    assert "Traceback" not in installed_server.log() + result.stderr
    quick_start = "\n".join(blocks[:2])  # the quick start and its CI continuation
    again = subprocess.run(["bash", "-euo", "pipefail", "-c", quick_start], cwd=installed_server.cwd,
                           env=installed_server.env, capture_output=True, text=True, timeout=300,
                           stdin=subprocess.DEVNULL)
    assert again.returncode == 0, f"pasted twice:\n{again.stdout[-4000:]}\n{again.stderr[-4000:]}"
    assert "exists already" in again.stdout and "update.zip: OK" in again.stdout
    assert "Traceback" not in again.stderr


IMPORTS = re.compile(r"""(?:\bfrom\s*|\bimport\s*\(?\s*)["']([^"']+\.js)["']""")


def test_the_dashboard_and_every_file_it_loads_are_served(installed_server):
    index = requests.get(installed_server.url + "/", timeout=10)
    assert index.status_code == 200 and "<title>otabox</title>" in index.text
    pending = [urllib.parse.urljoin(installed_server.url + "/", ref)
               for ref in re.findall(r'(?:src|href)="(/static/[^"]+)"', index.text)]
    loaded = {}
    while pending:
        url = pending.pop()
        if url in loaded:
            continue
        response = requests.get(url, timeout=10)
        assert response.status_code == 200, url
        loaded[url] = response
        if url.endswith(".js"):
            assert "javascript" in response.headers["Content-Type"], url
            pending += [urllib.parse.urljoin(url, ref) for ref in IMPORTS.findall(response.text)]
    names = {urllib.parse.urlsplit(url).path.removeprefix("/static/") for url in loaded}
    assert {"js/main.js", "css/app.css", "js/pages/apps.js"} <= names
    for name in names:
        assert loaded[f"{installed_server.url}/static/{name}"].content == (STATIC / name).read_bytes(), name
