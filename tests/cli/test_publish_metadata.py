"""`otabox publish` records build metadata: the git commit and branch of the checkout the build
folder is in, a build message and Capgo's minUpdateVersion."""
from __future__ import annotations

import json
import subprocess

import requests
from test_live_server import cli_key, run_cli


def git(folder, *args) -> str:
    return subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True, text=True).stdout.strip()


def test_publish_records_the_checkout_message_and_min_update_version(live_server, tmp_path):
    key = cli_key(live_server)
    requests.post(f"{live_server.url}/api/v1/apps", json={"slug": "com.example.meta"},
                  headers={"Authorization": f"Bearer {key}"})
    checkout = tmp_path / "repo"
    (checkout / "dist").mkdir(parents=True)
    (checkout / "dist" / "index.html").write_text("<p>built</p>")
    git(checkout, "init", "-q", "-b", "release/2.1")
    git(checkout, "-c", "user.name=CI", "-c", "user.email=ci@example.com", "commit", "-q", "--allow-empty", "-m", "x")
    result = run_cli(live_server, key, "publish", str(checkout / "dist"), "--app", "com.example.meta", "--version",
                     "2.1.0", "--message", "Faster checkout", "--min-update-version", "2.0.0", "--json")
    bundle = json.loads(result.stdout)["bundle"]
    assert (bundle["gitCommitHash"], bundle["gitBranch"], bundle["message"], bundle["minUpdateVersion"]) == (
        git(checkout, "rev-parse", "HEAD"), "release/2.1", "Faster checkout", "2.0.0")

    outside = tmp_path / "plain"
    outside.mkdir()
    (outside / "index.html").write_text("<p>plain</p>")
    plain = json.loads(run_cli(live_server, key, "publish", str(outside), "--app", "com.example.meta",
                               "--version", "2.1.1", "--json").stdout)["bundle"]
    assert (plain["gitCommitHash"], plain["gitBranch"], plain["message"]) == (None, None, "")
