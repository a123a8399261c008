"""The folder rules of DESIGN.md, checked on the source: `agents/` stays headless, `widgets/` stays I/O-free."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_OF_FOLDER = {
    "console": "agent_console",
    "agents": "agent_console.agents",
    "widgets": "agent_console.widgets",
    "themes": "agent_console.themes",
}

# What each folder may import (top-level names, or agent_console subpackages). Anything else is a violation.
ALLOWED = {
    "agents": {"pydantic", "agent_console.agents"},
    "widgets": {"textual", "rich", "agent_console.agents", "agent_console.widgets", "agent_console.themes"},
    "themes": {"textual", "rich", "agent_console.themes"},
}


def imported_modules(path: Path, package: str) -> list[tuple[int, str]]:
    """Absolute module names a file imports (relative imports resolved against its package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
                names = [module] if node.module else [f"{base}.{alias.name}" for alias in node.names]
                found += [(node.lineno, name) for name in names]
            elif node.module:
                found.append((node.lineno, node.module))
    return found


def is_allowed(module: str, allowed: set[str]) -> bool:
    top = module.split(".")[0]
    if top != "agent_console" and top in sys.stdlib_module_names:
        return True
    return any(module == rule or module.startswith(rule + ".") for rule in allowed if "." in rule) or (
        top in allowed and top != "agent_console"
    )


def violations(folder_root: Path, folder: str) -> list[str]:
    problems = []
    for path in sorted((folder_root / folder).rglob("*.py")):
        relative = path.relative_to(folder_root / folder).with_suffix("")
        parts = [p for p in relative.parts if p != "__init__"]
        package = ".".join(
            [PACKAGE_OF_FOLDER[folder], *parts[:-1]]
            if path.name != "__init__.py"
            else [PACKAGE_OF_FOLDER[folder], *parts]
        )
        for line, module in imported_modules(path, package):
            if not is_allowed(module, ALLOWED[folder]):
                problems.append(f"{folder}/{relative}.py:{line} imports {module}")
    return problems


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_folder_imports_only_what_it_may(folder: str) -> None:
    assert violations(ROOT, folder) == []


def test_checker_catches_a_headless_violation(tmp_path: Path) -> None:
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "state.py").write_text(
        "import json\nfrom textual.app import App\nfrom ..terminal import tmux\n"
    )
    (tmp_path / "widgets").mkdir()
    (tmp_path / "widgets" / "tree.py").write_text(
        "from textual.widget import Widget\nfrom agent_console.terminal.tmux import TmuxBackend\nimport iterm2\n"
        "from ..agents.model import Org\n"
    )
    assert violations(tmp_path, "agents") == [
        "agents/state.py:2 imports textual.app",
        "agents/state.py:3 imports agent_console.terminal",
    ]
    assert violations(tmp_path, "widgets") == [
        "widgets/tree.py:2 imports agent_console.terminal.tmux",
        "widgets/tree.py:3 imports iterm2",
    ]


def test_pyproject_maps_every_folder() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    mapping = config["tool"]["setuptools"]["package-dir"]
    assert {mapping[package]: package for package in mapping} == PACKAGE_OF_FOLDER


def backend_probes(path: Path) -> list[str]:
    """Places in a file that ask which terminal a backend is (`hasattr(backend, …)`, `isinstance(x, TmuxBackend)`)
    instead of calling the `TerminalBackend` interface."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) >= 2):
            continue
        subject, probe = ast.unparse(node.args[0]), ast.unparse(node.args[1])
        if (node.func.id in ("hasattr", "getattr") and "backend" in subject.lower()) or (
            node.func.id == "isinstance" and re.search(r"Backend\b", probe)
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {ast.unparse(node)}")
    return found


def test_only_the_terminal_package_knows_which_terminal_it_drives() -> None:
    terminal = ROOT / "console" / "terminal"
    files = [
        path
        for folder in PACKAGE_OF_FOLDER
        for path in sorted((ROOT / folder).rglob("*.py"))
        if terminal not in path.parents
    ]
    assert [probe for path in files for probe in backend_probes(path)] == []


def test_backend_probes_are_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    source = tmp_path / "app.py"
    source.write_text(
        "if hasattr(self.backend, 'bury'):\n    pass\n"
        "ok = isinstance(b, TmuxBackend)\n"
        "fine = isinstance(e, BackendLost)\n"
    )
    assert backend_probes(source) == [
        "app.py:1 hasattr(self.backend, 'bury')",
        "app.py:3 isinstance(b, TmuxBackend)",
    ]
