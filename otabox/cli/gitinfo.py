"""What `otabox publish` records about the source checkout a bundle was built from."""
from __future__ import annotations

import subprocess
from pathlib import Path


def git_fields(path: Path) -> dict:
    """`gitCommitHash` and `gitBranch` of the git working tree `path` is in; nothing when it is in
    none (or git is not installed). A detached HEAD has no branch."""
    folder = path if path.is_dir() else path.parent

    def git(*args: str) -> str | None:
        try:
            result = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return result.stdout.strip() if result.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit:
        return {}
    branch = git("rev-parse", "--abbrev-ref", "HEAD")
    return {"gitCommitHash": commit, **({"gitBranch": branch} if branch and branch != "HEAD" else {})}
