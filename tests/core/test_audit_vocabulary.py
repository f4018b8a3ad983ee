"""The audit log's vocabulary (`core/audit.py`'s ENTITY_TYPES and ACTION_FAMILIES) is what the code
records, so a filter naming something recorded is never refused as unknown."""
from __future__ import annotations

import ast
from pathlib import Path

from otabox.core import audit

PACKAGE = Path(audit.__file__).resolve().parents[1]


def _texts(node) -> list[str]:
    """The action texts an argument can be: a literal, either side of `a if c else b`, an f-string's head."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _texts(node.body) + _texts(node.orelse)
    if isinstance(node, ast.JoinedStr) and isinstance(node.values[0], ast.Constant):
        return [node.values[0].value]
    return []


def recorded() -> tuple[set[str], set[str]]:
    actions, entities = set(), set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("changing", "_append"):
                if len(node.args) > 2:
                    actions.update(_texts(node.args[1 if node.func.id == "changing" else 2]))
                if node.func.id == "changing" and len(node.args) > 2:
                    entities.update(_texts(node.args[2]))
            elif isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["action"]:
                actions.update(_texts(node.value))
    return actions, entities


def test_every_recorded_entity_type_and_action_family_is_known():
    actions, entities = recorded()
    assert "release.created" in actions and "rollout." in actions and "release" in entities  # the scan finds them
    assert entities <= set(audit.ENTITY_TYPES)
    assert {a.partition(".")[0] for a in actions} <= set(audit.ACTION_FAMILIES)
