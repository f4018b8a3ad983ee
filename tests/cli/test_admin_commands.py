"""Admin commands know where the box lives: a folder without one is refused (only `serve` and `restore`
start a box), and a data dir whose box was moved to PostgreSQL is refused without the
database settings. In-process, with click's runner."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from otabox.cli import main
from otabox.ops.dbmove import MOVED_NOTE
from support import new_box


def cli(*args, input=None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def assert_one_line_refusal(result, *fragments):
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


ADMIN_COMMANDS = [
    ["users", "create", "--email", "ana@example.com", "--role", "admin"],
    ["users", "list"],
    ["apps", "create", "com.example.app"],
    ["apps", "list"],
    ["apps", "show", "com.example.app"],
    ["channels", "list", "--app", "com.example.app"],
    ["channels", "create", "beta", "--app", "com.example.app"],
    ["collaborators", "list", "--app", "com.example.app"],
    ["keys", "create", "--name", "first", "--role", "admin"],
    ["keys", "list"],
    ["keys", "revoke", "ci"],
    ["audit"],
    ["doctor"],
    ["gc"],
    ["signing-key", "show"],
]


@pytest.mark.parametrize("command", ADMIN_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_an_admin_command_in_a_folder_without_a_box_is_refused_and_creates_nothing(command, tmp_path, monkeypatch):
    monkeypatch.delenv("OTABOX_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert_one_line_refusal(cli(*command), f"no otabox data directory at {tmp_path / 'data'}", "--data-dir")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def moved_box(tmp_path):
    """A box as `migrate-database` leaves its data dir: the SQLite file, and the note of the move."""
    data_dir = tmp_path / "data"
    new_box(data_dir)
    assert cli("keys", "create", "--name", "before-the-move", "--data-dir", str(data_dir)).exit_code == 0
    (data_dir / MOVED_NOTE).write_text("This box was moved to postgresql://otabox@db.internal:5432/otabox on "
                                       "2026-12-07 08:00 UTC by otabox migrate-database.\n"
                                       "otabox serve on this SQLite file no longer sees what happens there.\n")
    return data_dir


@pytest.mark.sqlite_only  # a SQLite box left behind by a move
@pytest.mark.parametrize("command", [["keys", "create", "--name", "ci"], ["keys", "list"],
                                     ["users", "create", "--email", "ana@example.com", "--role", "admin"],
                                     ["apps", "list"], ["doctor"], ["backup", "elsewhere"]],
                         ids=lambda c: " ".join(c[:2]))
def test_a_box_moved_to_postgresql_refuses_admin_commands_without_the_database_settings(command, moved_box,
                                                                                        monkeypatch):
    monkeypatch.chdir(moved_box.parent)
    before = sorted(p.name for p in moved_box.iterdir())
    result = cli(*command, "--data-dir", str(moved_box))
    assert_one_line_refusal(result, "was moved to postgresql://otabox@db.internal:5432/otabox",
                            "set OTABOX_DATABASE_URL")
    assert sorted(p.name for p in moved_box.iterdir()) == before
    assert not (moved_box.parent / "elsewhere").exists()


def test_deleting_the_default_channel_asks_first_and_then_says_the_way_out(tmp_path, monkeypatch):
    from otabox.cli import common

    new_box(tmp_path / "data")
    data = ["--data-dir", str(tmp_path / "data")]
    assert cli("apps", "create", "com.example.app", *data).exit_code == 0
    assert cli("channels", "create", "beta", "--app", "com.example.app", *data).exit_code == 0
    quiet = cli("channels", "delete", "beta", "--app", "com.example.app", *data)
    assert quiet.exit_code == 0 and quiet.stderr == ""
    consequence = ("'production' is the default channel of com.example.app: deleting it leaves devices that name "
                   "no channel without updates until you make another one the default")
    assert_one_line_refusal(cli("channels", "delete", "production", "--app", "com.example.app", *data),
                            consequence + "; pass --yes to go ahead")
    monkeypatch.setattr(common, "stdin_is_terminal", lambda: True)
    declined = cli("channels", "delete", "production", "--app", "com.example.app", *data, input="n\n")
    assert declined.exit_code == 1 and declined.stderr.startswith(consequence + ". Go ahead? [y/N]")
    assert "production" in cli("channels", "list", "--app", "com.example.app", *data).stdout
    deleted = cli("channels", "delete", "production", "--app", "com.example.app", *data, input="y\n")
    assert deleted.exit_code == 0, deleted.output
    assert deleted.stdout == "Deleted channel 'production' of com.example.app.\n"
    assert deleted.stderr.splitlines()[-1].startswith("Warning: 'production' was the default channel")
    assert "otabox channels update NAME --default" in deleted.stderr


def test_a_script_deletes_the_default_channel_with_yes(tmp_path):
    new_box(tmp_path / "data")
    data = ["--data-dir", str(tmp_path / "data")]
    assert cli("apps", "create", "com.example.app", *data).exit_code == 0
    deleted = cli("channels", "delete", "production", "--yes", "--app", "com.example.app", *data)
    assert deleted.exit_code == 0 and deleted.stdout == "Deleted channel 'production' of com.example.app.\n"
    [warning] = deleted.stderr.splitlines()
    assert warning.startswith("Warning: 'production' was the default channel") and "no updates" in warning


@pytest.mark.sqlite_only  # otabox backup copies SQLite files
@pytest.mark.parametrize("where, problem", [("README.md/sub", "not a directory"),
                                            ("/proc/otabox-backup", "no such file or directory")])
def test_a_backup_somewhere_it_cannot_be_written_is_refused_in_one_line_and_leaves_nothing(where, problem,
                                                                                          tmp_path, monkeypatch):
    new_box(tmp_path / "data")
    (tmp_path / "README.md").write_text("a file, not a folder\n")
    monkeypatch.chdir(tmp_path)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    result = cli("backup", where, "--data-dir", str(tmp_path / "data"))
    assert_one_line_refusal(result, f"cannot write the backup to {where}: {problem}")
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


def test_audit_refuses_an_action_family_no_entry_can_have(tmp_path):
    """`--action bogus` is a typo, not "nothing happened": refused naming the families, as the API does."""
    new_box(tmp_path / "data")
    data_dir = ["--data-dir", str(tmp_path / "data")]
    assert_one_line_refusal(cli("audit", "--action", "bogus", *data_dir), "unknown action 'bogus'", "release")
    assert_one_line_refusal(cli("audit", "--action", "relase.created", *data_dir), "unknown action 'relase.created'")
    known = cli("audit", "--action", "release.created", *data_dir)
    assert known.exit_code == 0 and known.stdout.splitlines()[0].split()[:4] == ["ID", "AT", "ACTOR", "ACTION"]
