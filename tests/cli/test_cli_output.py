"""What the admin commands print, in-process on a test's data directory: secrets shown once on
stdout under a notice that makes sense when stdout is captured, tables whose columns fit their
content, human lines by default and JSON with --json."""
from __future__ import annotations

import pytest
from support import run_otabox

from otabox.cli import common


def admin(config, *args, input=None):
    return run_otabox(*args, "--data-dir", str(config.data_dir), input=input)


def test_a_key_captured_by_the_shell_leaves_a_notice_that_makes_sense_alone(config):
    """`KEY=$(otabox keys create ...)`: the key goes to the variable, the terminal keeps stderr only."""
    ran = admin(config, "keys", "create", "--name", "ci")
    assert ran.returncode == 0 and ran.stdout.startswith("otabox_sk_") and ran.stdout.count("\n") == 1
    assert ran.stderr == ("Created admin key 'ci'.\n"
                          "The key was written to standard output (store it now; it is not shown again).\n")
    people = admin(config, "users", "create", "--email", "ana@example.com", "--role", "admin")
    assert people.stderr.splitlines()[-1] == ("The password of ana@example.com was written to standard output "
                                              "(shown once; they can use it to sign in now).")


def test_on_a_terminal_the_notice_points_at_the_key_below_it(config, monkeypatch):
    monkeypatch.setattr(common, "stdout_is_terminal", lambda: True)
    ran = admin(config, "keys", "create", "--name", "ci", "--role", "reader")
    assert ran.stderr == "Created reader key 'ci'.\nThe key (store it now; it is not shown again):\n"
    assert ran.stdout.startswith("otabox_sk_")
