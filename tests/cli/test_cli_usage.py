"""The otabox command as a user meets it: help for everything, and one-line errors with exit code 1."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys

import click
import pytest
import requests
from click.testing import CliRunner
from conftest import ROOT, LiveServer
from support import new_box

from otabox.cli import main


def walk(command: click.Command, path: str = "otabox"):
    yield path, command
    if isinstance(command, click.Group):
        for name, child in command.commands.items():
            yield from walk(child, f"{path} {name}")


def test_every_command_and_option_has_help_text():
    missing = []
    for path, command in walk(main):
        if not (command.help or command.short_help):
            missing.append(path)
        for param in command.params:
            if isinstance(param, click.Option) and not param.help:
                missing.append(f"{path} {param.opts[0]}")
    assert missing == []


def otabox(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, str(ROOT / "otabox.py"), *args], capture_output=True, text=True,
                          timeout=60, cwd=cwd or ROOT, env={**os.environ, **(env or {})})


def assert_one_line_error(result, *fragments):
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_a_port_in_use_is_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = otabox("serve", "--port", str(port), "--data-dir", str(tmp_path / "data"))
    assert_one_line_error(result, f"127.0.0.1:{port}", "--port")


@pytest.mark.parametrize("name, value, fragment", [
    ("OTABOX_PORT", "eighty", "OTABOX_PORT must be a whole number"),
    ("OTABOX_DEVICE_FLUSH_SECONDS", "soon", "OTABOX_DEVICE_FLUSH_SECONDS must be a number"),
    ("OTABOX_PORT", "99999", "--port / OTABOX_PORT must be from 0 to 65535, not 99999"),
    ("OTABOX_THREADS", "0", "--threads / OTABOX_THREADS must be from 1 to 1024, not 0"),
    ("OTABOX_WORKERS", "65", "--workers / OTABOX_WORKERS must be from 1 to 64, not 65"),
])
def test_a_bad_setting_is_one_line(tmp_path, name, value, fragment):
    assert_one_line_error(otabox("serve", "--data-dir", str(tmp_path / "data"), env={name: value}), fragment)
    assert_one_line_error(otabox("keys", "list", "--data-dir", str(tmp_path / "data"), env={name: value}), fragment)


@pytest.mark.parametrize("option, value, message", [
    ("--port", "99999", "--port / OTABOX_PORT must be from 0 to 65535, not 99999"),
    ("--threads", "0", "--threads / OTABOX_THREADS must be from 1 to 1024, not 0"),
    ("--workers", "0", "--workers / OTABOX_WORKERS must be from 1 to 64, not 0"),
])
def test_a_serve_option_out_of_range_is_one_line_and_starts_nothing(tmp_path, option, value, message):
    result = CliRunner().invoke(main, ["serve", option, value, "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 1 and result.stderr == f"Error: {message}\n"
    assert not (tmp_path / "data").exists()


def without_root_powers() -> list[str]:
    """A command prefix under which permission bits apply (the suite runs as root in CI, and root
    otherwise reads every directory)."""
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("needs setpriv (util-linux) to drop root's file-access capabilities")
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner,-chown", "--"]


@pytest.mark.parametrize("command", [["keys", "list"], ["serve", "--port", "0"]])
def test_an_unreadable_data_dir_is_one_line(tmp_path, command):
    data_dir = tmp_path / "data"
    new_box(data_dir)
    prefix = without_root_powers()
    if prefix:
        os.chown(data_dir, 65534, 65534)  # another user's directory (mode 0700)
    else:
        data_dir.chmod(0)
    try:
        result = subprocess.run([*prefix, sys.executable, str(ROOT / "otabox.py"), *command, "--data-dir",
                                 str(data_dir)], capture_output=True, text=True, timeout=60)
    finally:
        os.chown(data_dir, os.geteuid(), os.getegid()) if prefix else data_dir.chmod(0o700)
    assert_one_line_error(result, f"cannot use the otabox data directory {data_dir}: ", "run otabox as the user")


@pytest.mark.sqlite_only  # with a database server the database is the box, and a new machine's data dir is empty
def test_admin_commands_never_start_an_empty_box_in_the_wrong_folder(tmp_path):
    """From a folder without ./data, every admin command refuses in one line naming the absolute path,
    `keys create` too (a key in a new, empty box would work with no server), and makes nothing; once
    `otabox serve` has made the box there, the same folder works."""
    for command in (["keys", "create", "--name", "first"], ["keys", "list"], ["apps", "list"], ["doctor"], ["gc"],
                    ["audit"]):
        result = otabox(*command, cwd=tmp_path)
        assert_one_line_error(result, f"no otabox data directory at {tmp_path / 'data'}")
        assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []
    new_box(tmp_path / "data")
    created = otabox("keys", "create", "--name", "first", cwd=tmp_path)
    assert created.returncode == 0 and created.stdout.strip().startswith("otabox_sk_")
    listed = otabox("keys", "list", cwd=tmp_path)
    assert listed.returncode == 0 and "first" in listed.stdout


def test_sigterm_closes_the_box_and_writes_buffered_sightings(tmp_path):
    server = LiveServer(tmp_path / "data", env={"OTABOX_DEVICE_FLUSH_SECONDS": "3600"})
    try:
        key = server.cli("keys", "create", "--name", "k").stdout.strip().splitlines()[-1]
        app = requests.post(f"{server.url}/api/v1/apps", json={"slug": "com.example.term"},
                            headers={"Authorization": f"Bearer {key}"}).json()
        requests.get(f"{server.url}/api/v1/apps/com.example.term/check", headers={"X-Client-Key": app["clientKey"]},
                     params={"platform": "ios", "version": "builtin", "deviceId": "phone-term"}, timeout=10)
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=20) == 0
        assert "Traceback" not in server.log_text()
    finally:
        server.stop()
    assert server.rows("SELECT device_id FROM device") == [("phone-term",)]


def test_the_checkout_launcher_names_itself_otabox(tmp_path):
    """`python otabox.py --help` shows the command users type, and `apps list` has a header row."""
    assert otabox("--help").stdout.startswith("Usage: otabox [OPTIONS] COMMAND [ARGS]...")
    data_dir = str(tmp_path / "data")
    new_box(data_dir)
    assert otabox("apps", "create", "com.example.listed", "--data-dir", data_dir).returncode == 0
    header, row = otabox("apps", "list", "--data-dir", data_dir).stdout.splitlines()
    assert header.split() == ["ID", "SLUG", "CLIENT", "KEY"] and row.split()[1] == "com.example.listed"
