"""Replaying the requests an earlier release answered (tests/fixtures/datadir-*.json) against a
server of this code: every answer must still contain what the old one did (fields may be added),
and every download must still have the same bytes."""
from __future__ import annotations

import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
from make_datadir import VOLATILE, answer  # noqa: E402

CHANGED_ON_PURPOSE: dict[tuple[str, str], str] = {
    ("GET /v0.1/public/codepush/update_check?", "update_info.is_mandatory"):
        "issue 15: a device that sends no package hash gets isMandatory from the whole history (v1 is "
        "mandatory), as code-push-server answers",
    **{(f"GET /api/v1/apps/com.example.alpha/check?deviceId={device}&", ""):
       "issue 26: Capgo's under-native guard no longer applies to the native check, whose bundle and native "
       "versions are separate lines (this device on native 2.1.0 or 3.0.0 now gets the 1.x release)"
       for device in ("phone-1", "phone-7", "tester")},
}
"""(request path prefix, dotted field) -> why this release answers differently on purpose."""


def contained(old, new, where: str, request: str, problems: list[str]) -> None:
    """Record where `new` lacks or changes something `old` had."""
    if any(request.startswith(prefix) and where == field for prefix, field in CHANGED_ON_PURPOSE):
        return
    if isinstance(old, dict):
        if not isinstance(new, dict):
            problems.append(f"{request} {where}: {old!r} became {new!r}")
            return
        for key, value in old.items():
            if key in VOLATILE:
                continue
            if key not in new:
                problems.append(f"{request} {where}.{key}: missing")
            else:
                contained(value, new[key], f"{where}.{key}".lstrip("."), request, problems)
    elif isinstance(old, list):
        if not isinstance(new, list) or len(new) != len(old):
            problems.append(f"{request} {where}: {len(old)} items became {new!r:.200}")
            return
        for index, (a, b) in enumerate(zip(old, new)):
            contained(a, b, f"{where}[{index}]", request, problems)
    elif old != new:
        problems.append(f"{request} {where}: {old!r} became {new!r}")


def replay(server_url: str, recorded: dict) -> list[str]:
    """Replay the recorded requests in order; what differs from the recorded answers, one line each."""
    problems: list[str] = []
    for entry in recorded["requests"]:
        label = f"{entry['method']} {entry['path']}"
        now = answer(server_url, entry)
        old = entry["answer"]
        contained(old["status"], now["status"], "status", label, problems)
        contained(old["body"], now["body"], "", label, problems)
        for path, (status, sha256) in old["downloads"].items():
            if now["downloads"].get(path) != [status, sha256] and now["downloads"].get(path) != (status, sha256):
                problems.append(f"{label} download {path}: {now['downloads'].get(path)} instead of {sha256}")
    return problems
