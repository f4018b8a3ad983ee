"""The otabox command as a user meets it: help for everything, and one-line errors with exit code 1."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

import click
import pytest
from conftest import ROOT

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
])
def test_a_bad_setting_is_one_line(tmp_path, name, value, fragment):
    assert_one_line_error(otabox("serve", "--data-dir", str(tmp_path / "data"), env={name: value}), fragment)
    assert_one_line_error(otabox("keys", "list", "--data-dir", str(tmp_path / "data"), env={name: value}), fragment)


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
    otabox("keys", "create", "--name", "a", "--data-dir", str(data_dir))
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
