"""Python face of tests/node/codepush_harness.mjs: the real CodePush client SDK, run by Node."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

NODE_DIR = Path(__file__).parent / "node"
HARNESS = NODE_DIR / "codepush_harness.mjs"
HARNESS_TIMEOUT_SECONDS = 30


class CodePushClientError(RuntimeError):
    """The SDK (or the server behind it) reported an error; the message is the SDK's."""


def _run_harness(*args: str, stdin: str | None = None):
    completed = subprocess.run(
        ["node", str(HARNESS), *args],
        cwd=NODE_DIR,
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=HARNESS_TIMEOUT_SECONDS,
    )
    if completed.returncode != 0:
        raise CodePushClientError(completed.stderr.strip() or f"harness exited {completed.returncode}")
    return json.loads(completed.stdout)


class CodePushClient:
    """One phone running react-native-code-push against ``server_url``.

    Packages are the SDK's camelCase dicts, e.g. ``{"label": "v1",
    "packageHash": "...", "appVersion": "1.0.0"}`` - typically what
    :meth:`query` returned for an earlier update.
    """

    def __init__(self, server_url: str, deployment_key: str, app_version: str, client_unique_id: str):
        self.server_url = server_url
        self.deployment_key = deployment_key
        self.app_version = app_version
        self.client_unique_id = client_unique_id

    def _identity(self) -> list[str]:
        return [self.server_url, self.deployment_key, self.app_version, self.client_unique_id]

    def query(self, current_package: dict | None = None) -> dict | None:
        """The remote package the SDK hands to the app, or None when there is no update.

        Without ``current_package`` the device is on its binary and asks with
        ``{"appVersion": app_version}`` only.  An update for a newer binary
        comes back as ``{"updateAppVersion": True, "appVersion": ...}``.
        """
        extra = [json.dumps(current_package)] if current_package is not None else []
        return _run_harness("query", *self._identity(), *extra)

    def report_deploy(self, package: dict | None, status: str | None,
                      previous_label_or_app_version: str | None = None,
                      previous_deployment_key: str | None = None) -> None:
        """``reportStatusDeploy``; ``package=None, status=None`` is a device back on its binary.

        The SDK drops empty previous values, so "" stands for "not given".
        """
        _run_harness(
            "report-deploy", *self._identity(), json.dumps(package), status or "null",
            previous_label_or_app_version or "", previous_deployment_key or "",
        )

    def report_download(self, package: dict) -> None:
        _run_harness("report-download", *self._identity(), json.dumps(package))


def node_hash_codes(strings: list[str]) -> list[int]:
    """code-push-server's rollout ``hashCode`` of each string, computed by Node."""
    return _run_harness("hash-code", "-", stdin=json.dumps(strings))


def node_folder_hash(directory: str | Path) -> str:
    """The package hash the native CodePush client computes over an unzipped update folder."""
    return _run_harness("folder-hash", str(directory))
