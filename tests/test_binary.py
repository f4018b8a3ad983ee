"""The single binary: `scripts/build-binary` in a copy of this checkout (as a fresh clone has it) builds
otabox-binary/otabox, which then runs the README's quick start from an empty folder with a bare PATH (no
virtualenv, no Python packages: the system's python3 there only fills in the README's JSON helper)
and the admin commands a box needs.

Building costs a few minutes, once per run (a module-scoped fixture); its start time is measured by
bench/binary.py, not here."""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import requests
from conftest import answers_health, free_port
from test_first_hour import copy_checkout, sh_blocks

pytestmark = pytest.mark.single_engine  # the binary's own SQLite box, whatever the suite's engine

BARE_PATH = "/usr/bin:/bin"
MAX_MEGABYTES = 80


@pytest.fixture(scope="module")
def binary(tmp_path_factory) -> Path:
    checkout = copy_checkout(tmp_path_factory.mktemp("binary") / "otabox")
    build = checkout / "scripts" / "build-binary"
    assert os.access(build, os.X_OK), "scripts/build-binary is executable"
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    built = subprocess.run([str(build)], cwd=checkout / "static", env=env, capture_output=True, text=True,
                           timeout=1200, stdin=subprocess.DEVNULL)
    assert built.returncode == 0, built.stderr[-4000:]
    pyinstaller_said = re.findall(r"^\d+ (?:WARNING|ERROR): .*$", built.stderr, re.MULTILINE)
    assert pyinstaller_said == [], "a first build shows no warning to worry about"
    assert re.search(r"^built .*otabox-binary/otabox \(\d+ MB\)$", built.stderr, re.MULTILINE), built.stderr[-2000:]
    return checkout / "otabox-binary" / "otabox"


def bare_env(binary: Path, home: Path, **extra) -> dict:
    """Nothing but a PATH of system folders and the binary's own, and a home."""
    return {"PATH": f"{binary.parent}:{BARE_PATH}", "HOME": str(home), "LANG": "C.UTF-8", **extra}


def test_it_is_one_executable_for_linux_x86_64_under_the_size_limit(binary):
    assert [p.name for p in binary.parent.iterdir()] == ["otabox"] and os.access(binary, os.X_OK)
    assert not (binary.parent.parent / "build").exists(), "python -m build in the checkout would import build/"
    header = binary.read_bytes()[:20]
    assert header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == 0x3E  # EM_X86_64
    assert binary.stat().st_size < MAX_MEGABYTES * 1024 * 1024


@pytest.fixture(scope="module")
def binary_server(binary, tmp_path_factory):
    work = tmp_path_factory.mktemp("empty") / "work"
    work.mkdir()
    port = free_port()
    env = bare_env(binary, work.parent, OTABOX_PORT=str(port))
    log = open(work.parent / "serve.log", "wb")
    process = subprocess.Popen(["otabox", "serve"], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
    try:
        assert answers_health(f"http://127.0.0.1:{port}", 60, process), (work.parent / "serve.log").read_text()
        yield work, env, f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()
    assert "Traceback" not in (work.parent / "serve.log").read_text()


def test_the_readme_quick_start_runs_with_the_binary(binary_server):
    work, env, url = binary_server
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(sh_blocks())], cwd=work, env=env,
                            capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    assert '"updateAvailable": true' in result.stdout and "update.zip: OK" in result.stdout
    assert "production now serves 1.0.1" in result.stdout
    downloaded = (work / "update.zip").read_bytes()
    assert downloaded == (work / "bundle.zip").read_bytes()
    assert json.loads((work / "check.json").read_text())["bundle"]["sha256"] == hashlib.sha256(downloaded).hexdigest()
    assert "Traceback" not in result.stderr
    index = requests.get(url + "/", timeout=10)
    assert index.status_code == 200 and "<title>otabox</title>" in index.text
    assert requests.get(url + "/static/js/main.js", timeout=10).status_code == 200


def test_the_admin_commands_run_from_the_binary(binary_server, tmp_path):
    work, env, _ = binary_server

    def otabox(*args, input=None):
        done = subprocess.run(["otabox", *args], cwd=work, env=env, capture_output=True, text=True, timeout=120,
                              input=input)
        assert done.returncode == 0 and "Traceback" not in done.stderr, (args, done.stderr)
        return done.stdout

    otabox("apps", "create", "com.example.binary")
    otabox("users", "create", "--email", "ana@example.com", "--role", "member", "--password-stdin",
           input="a long enough passphrase\n")
    otabox("collaborators", "add", "ana@example.com", "--app", "com.example.binary")
    shown = json.loads(otabox("apps", "show", "com.example.binary", "--json"))
    assert [c["name"] for c in shown["channels"]] == ["production", "staging"]
    assert "OK" in otabox("doctor")
    backup = json.loads(otabox("backup", str(tmp_path / "backup"), "--json"))
    assert (tmp_path / "backup").is_dir() and backup
    assert "ana@example.com" in otabox("users", "list")
    refused = subprocess.run(["otabox", "keys", "list"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert refused.returncode == 1 and refused.stderr.startswith("Error: no otabox data directory")
