"""The folder tree is the architecture: every import in the package points down the layers that
ARCHITECTURE.md describes, and no modules import each other in a circle."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = pytest.mark.single_engine  # imports between the package's modules

PACKAGE = ROOT / "otabox"
BASE = {"otabox", "otabox.errors", "otabox.config", "otabox.fields", "otabox.jsonsafe"}
HTTP_HELPERS = {"otabox.web"}
COMPOSITION = {"otabox.app", "otabox.box", "otabox.server", "otabox.fastpath", "otabox.openapi",
               "otabox.downloads"}
ALLOWED = {
    "store": {"store"},
    "security": {"store", "security"},
    "core": {"store", "security", "core"},
    "ops": {"store", "security", "core", "ops"},
    "api": {"store", "security", "core", "api", "http"},
    "protocols": {"store", "security", "core", "protocols", "http"},
    "http": {"store", "security", "core", "http"},
}
WRITE_PATHS = {"otabox.store.generation", "otabox.store.db", "otabox.store.migrations"}
"""Adapters change state through core operations only, never the change signal or the database."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every otabox module `path` imports, at the top or inside a function."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("otabox")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("otabox"):
                continue
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.add(candidate if module_path(candidate) else target)
    return found


def module_path(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def layer(name: str) -> str:
    if name in BASE:
        return "base"
    if name in HTTP_HELPERS:
        return "http"
    if name in COMPOSITION or name.startswith(("otabox.cli", "otabox.openapi.")):
        return "composition"
    return name.split(".")[1]


def graph() -> dict[str, set[str]]:
    return {module_name(path): imports_of(path) for path in PACKAGE.rglob("*.py")}


def test_every_import_points_down_the_layers():
    wrong = []
    for module, imported in graph().items():
        allowed = ALLOWED.get(layer(module))
        if layer(module) == "base":
            allowed = set()
        if allowed is None:
            continue
        for target in imported:
            if layer(target) not in allowed | {"base"}:
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_adapters_write_through_the_core_only():
    wrong = [f"{module} imports {target}" for module, imported in graph().items()
             if layer(module) in ("api", "protocols", "http") for target in imported & WRITE_PATHS]
    assert wrong == []


SIGNALS = {"bump_generation", "bump_device_change"}
AUDIT_WRITES = {"create", "insert", "insert_many", "insert_from", "replace", "update", "delete"}
CHANGE_RECORDERS = {"otabox.core.change"}
"""The one module that records a change (audit entry, events, signal); the store layer defines them."""


def hand_assembled_writes(source: str) -> list[str]:
    """What `source` does that only core/change.py may: name a change signal, write an audit row."""
    found = []
    for node in ast.walk(ast.parse(source)):
        name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else \
            node.name if isinstance(node, ast.alias) else None
        owner = node.value.id if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) else None
        if name in SIGNALS:
            found.append(f"line {getattr(node, 'lineno', '?')}: {name}")
        elif owner == "AuditEntry" and name in AUDIT_WRITES or (owner, name) == ("audit", "record"):
            found.append(f"line {node.lineno}: {owner}.{name}")
    return found


@pytest.mark.parametrize("source", [
    "bump_generation()", "generation.bump_device_change()", "from otabox.store.generation import bump_generation",
    "audit.record(actor, 'app.created', 'app', 1)", "AuditEntry.create(actor='cli', action='x')",
    "AuditEntry.insert_many(rows).execute()"])
def test_the_check_sees_a_hand_assembled_write(source):
    assert hand_assembled_writes(source) != []


def test_only_changing_records_changes():
    """Every write goes through core/change.py's changing(): nothing else bumps the change signal or
    writes audit rows, so no operation can forget the signal or leave a change unaudited."""
    wrong = [f"{module_name(path)} {found}" for path in PACKAGE.rglob("*.py")
             if module_name(path) not in CHANGE_RECORDERS and layer(module_name(path)) != "store"
             for found in hand_assembled_writes(path.read_text())]
    assert wrong == []


def test_nothing_imports_the_composition_root():
    wrong = [f"{module} imports {target}" for module, imported in graph().items()
             if layer(module) != "composition" for target in imported if target in ("otabox.app", "otabox.box")]
    assert wrong == []


def test_no_import_cycles():
    edges = graph()
    cycles = []
    state: dict[str, int] = {}

    def visit(node, trail):
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if target == node or target not in edges:
                continue
            if state.get(target) == 1:
                cycles.append(trail[trail.index(target):] + [target])
            elif target not in state:
                visit(target, trail + [target])
        state[node] = 2

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    assert cycles == []


def test_architecture_md_names_every_folder():
    text = (ROOT / "ARCHITECTURE.md").read_text()
    folders = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    assert [f for f in folders if f"otabox/{f}/" not in text] == []
