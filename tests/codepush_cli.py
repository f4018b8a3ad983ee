"""Python face of tests/node/codepush_cli_harness.mjs: the account requests of code-push-standalone
(code-push-server's CLI, which is not on npm), sent as its AccountManager sends them."""
from __future__ import annotations

import json
import subprocess

from codepush_client import HARNESS_TIMEOUT_SECONDS, NODE_DIR

HARNESS = NODE_DIR / "codepush_cli_harness.mjs"


class CodePushCliError(RuntimeError):
    def __init__(self, message: str, status_code: int):
        super().__init__(f"{status_code}: {message}")
        self.message, self.status_code = message, status_code


class CodePushCli:
    """One `code-push-standalone login --accessKey KEY` session against ``server_url``."""

    def __init__(self, server_url: str, access_key: str):
        self.server_url, self.access_key = server_url, access_key

    def __getattr__(self, operation: str):
        def call(*args):
            completed = subprocess.run(
                ["node", str(HARNESS), self.server_url, self.access_key, operation, *map(str, args)],
                cwd=NODE_DIR, capture_output=True, text=True, encoding="utf-8", timeout=HARNESS_TIMEOUT_SECONDS)
            if completed.returncode != 0:
                raise RuntimeError(completed.stderr.strip() or f"harness exited {completed.returncode}")
            answer = json.loads(completed.stdout)
            if "error" in answer:
                raise CodePushCliError(answer["error"]["message"], answer["error"]["statusCode"])
            return answer["result"]
        return call
