"""The folder rules of docs/architecture.md ("Folders and what they may import"), checked on the source.

Every import counts: at module level, inside functions (lazy imports), under `if TYPE_CHECKING:`, and
`importlib.import_module("…")` with a literal name. A plain AST walk rather than import-linter: the package
`agent_console` is assembled from four folders (`[tool.setuptools.package-dir]`), and grimp, which import-linter
builds its graph with, walks only the folder of the root package (`console/`), so it never sees `agents/`,
`widgets/` or `themes/`.
"""

from __future__ import annotations

import ast
import functools
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_OF_FOLDER = {
    "console": "agent_console",
    "agents": "agent_console.agents",
    "widgets": "agent_console.widgets",
    "themes": "agent_console.themes",
}
# The standard library's ways to reach files, processes, sockets and the network: a widget uses none of them.
IO_STDLIB = {
    "asyncio",
    "http",
    "io",
    "multiprocessing",
    "os",
    "pathlib",
    "select",
    "selectors",
    "shutil",
    "socket",
    "sqlite3",
    "ssl",
    "subprocess",
    "tempfile",
    "urllib",
}
CYCLE_FREE = ("agent_console.runtime", "agent_console.tui")  # no cycle may run through these

# Violations the code has today, each to be removed, not added to: a new violation fails, and so does one of these
# once fixed (delete its line then). Keyed without line numbers, which move with every edit.
KNOWN_VIOLATIONS: set[str] = set()
KNOWN_CYCLES: list[list[str]] = []


@dataclass(frozen=True)
class Rule:
    """What the modules under `scope` may import: `only` these (and the standard library, less `no_stdlib`),
    or anything but what is `forbidden`."""

    name: str
    scope: str
    only: frozenset[str] | None = None
    forbidden: tuple[str, ...] = ()
    no_stdlib: frozenset[str] = frozenset()

    def breaks(self, target: str) -> bool:
        top = target.split(".")[0]
        if any(_within(target, prefix) for prefix in self.forbidden):
            return True
        if self.only is None:
            return False
        if top != "agent_console" and top in sys.stdlib_module_names:
            return top in self.no_stdlib
        return not any(_within(target, allowed) for allowed in self.only)


RULES = (
    Rule("agents/ is headless", "agent_console.agents", only=frozenset({"pydantic", "agent_console.agents"})),
    Rule(
        "widgets/ does no I/O",
        "agent_console.widgets",
        only=frozenset({"textual", "rich", "agent_console.agents", "agent_console.widgets", "agent_console.themes"}),
        no_stdlib=frozenset(IO_STDLIB),
    ),
    Rule("themes/ is styling", "agent_console.themes", only=frozenset({"textual", "rich", "agent_console.themes"})),
    Rule(
        "runtime/ never imports the app or the command line",
        "agent_console.runtime",
        forbidden=("agent_console.tui", "agent_console.cli"),
    ),
    Rule(
        "terminal/ imports no layer above it",
        "agent_console.terminal",
        forbidden=("agent_console.runtime", "agent_console.tui", "agent_console.cli"),
    ),
    Rule("tui/ never imports the command line", "agent_console.tui", forbidden=("agent_console.cli",)),
)


@dataclass(frozen=True)
class Import:
    line: int
    target: str
    type_checking: bool

    def where(self) -> str:
        return f"{self.line}{' (under TYPE_CHECKING)' if self.type_checking else ''}"


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def modules_of(root: Path) -> dict[str, Path]:
    """Every module of the package under `root`, by its import name."""
    found = {}
    for folder, package in PACKAGE_OF_FOLDER.items():
        for path in sorted((root / folder).rglob("*.py")):
            parts = path.relative_to(root / folder).with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            found[".".join((package, *parts))] = path
    return found


def imports_of(module: str, path: Path, known: set[str]) -> list[Import]:
    """The modules `module` imports, relative imports resolved, `from X import y` as `X.y` when that is a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, type_checking: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend(Import(node.lineno, alias.name, type_checking) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            for alias in node.names:
                target = f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                found.append(Import(node.lineno, target, type_checking))
        elif isinstance(node, ast.Call) and _is_import_call(node):
            found.append(Import(node.lineno, node.args[0].value, type_checking))  # type: ignore[attr-defined]
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, type_checking)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, type_checking)

    visit(tree, False)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _is_import_call(node: ast.Call) -> bool:
    function = node.func
    named = (isinstance(function, ast.Attribute) and function.attr == "import_module") or (
        isinstance(function, ast.Name) and function.id in ("import_module", "__import__")
    )
    return named and bool(node.args) and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)


@functools.cache  # one parse of the source per tree, whatever the number of rules
def graph_of(root: Path) -> dict[str, list[Import]]:
    known = modules_of(root)
    return {module: imports_of(module, path, set(known)) for module, path in known.items()}


def rule_violations(root: Path, known: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Each import that breaks a rule, once per line, unless `known` (as "module imports target")."""
    problems = []
    for module, found in graph_of(root).items():
        for rule in RULES:
            if not _within(module, rule.scope):
                continue
            for imported in dict.fromkeys(found):
                if rule.breaks(imported.target) and f"{module} imports {imported.target}" not in known:
                    problems.append(f"{rule.name}: {module}:{imported.where()} imports {imported.target}")
    return problems


def known_violations_fixed(root: Path) -> list[str]:
    graph = graph_of(root)
    present = {f"{module} imports {i.target}" for module, found in graph.items() for i in found}
    return sorted(KNOWN_VIOLATIONS - present)


def cycles(root: Path) -> list[list[str]]:
    """Import cycles (strongly connected modules, Tarjan) that run through a module of CYCLE_FREE.

    Importing `a.b.c` runs the packages `a` and `a.b` first; those edges to one's own ancestors are not counted,
    as import-linter does not count them."""
    graph = graph_of(root)
    edges = {
        module: sorted(
            {i.target for i in found if i.target in graph and i.target != module and not _within(module, i.target)}
        )
        for module, found in graph.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found_cycles: list[list[str]] = []

    def connect(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in edges[module]:
            if other not in index:
                connect(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1 and any(_within(m, p) for m in component for p in CYCLE_FREE):
                found_cycles.append(sorted(component))

    for module in sorted(edges):
        if module not in index:
            connect(module)
    return found_cycles


def describe_cycle(root: Path, component: list[str]) -> str:
    """The imports that tie a cycle's modules together, with their lines."""
    graph = graph_of(root)
    links = [
        f"{module}:{i.where()} → {i.target}"
        for module in component
        for i in dict.fromkeys(graph[module])
        if i.target in component and i.target != module and not _within(module, i.target)
    ]
    return "; ".join(links)


# --- the rules, on this repository ------------------------------------------------------------------------


@pytest.mark.parametrize("rule", RULES, ids=[rule.name for rule in RULES])
def test_each_folder_imports_only_what_it_may(rule: Rule) -> None:
    found = rule_violations(ROOT, KNOWN_VIOLATIONS)
    assert [problem for problem in found if problem.startswith(rule.name + ":")] == []


def test_the_known_violations_are_still_there_to_fix() -> None:
    assert known_violations_fixed(ROOT) == [], "fixed: delete these from KNOWN_VIOLATIONS"


def test_no_import_cycle_runs_through_the_runtime_or_the_app() -> None:
    new = [describe_cycle(ROOT, component) for component in cycles(ROOT) if component not in KNOWN_CYCLES]
    assert new == []


def test_the_known_cycles_are_still_there_to_break() -> None:
    assert [component for component in KNOWN_CYCLES if component not in cycles(ROOT)] == [], (
        "broken or changed: update KNOWN_CYCLES"
    )


def test_pyproject_maps_every_folder() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    mapping = config["tool"]["setuptools"]["package-dir"]
    assert {mapping[package]: package for package in mapping} == PACKAGE_OF_FOLDER


# --- the checker catches what it is for -------------------------------------------------------------------


def _tree(root: Path, files: dict[str, str]) -> Path:
    for folder in PACKAGE_OF_FOLDER:
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / "__init__.py").touch()
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_the_checker_catches_each_kind_of_violation(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "agents/state.py": "import json\nfrom textual.app import App\nfrom ..terminal import tmux\n",
            "widgets/tree.py": "import subprocess\nfrom textual.widget import Widget\nfrom ..agents.model import Org\n",
            "console/terminal/__init__.py": "",
            "console/terminal/tmux.py": "def f():\n    from agent_console.runtime import supervisor\n",
            "console/runtime/__init__.py": "",
            "console/runtime/supervisor.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from agent_console.tui.app import App\n"
            ),
            "console/tui/__init__.py": "",
            "console/tui/app.py": "import importlib\ncli = importlib.import_module('agent_console.cli.entry')\n",
            "console/cli/__init__.py": "",
            "console/cli/entry.py": "",
        },
    )
    assert sorted(rule_violations(root)) == [
        "agents/ is headless: agent_console.agents.state:2 imports textual.app",
        "agents/ is headless: agent_console.agents.state:3 imports agent_console.terminal.tmux",
        "runtime/ never imports the app or the command line: "
        "agent_console.runtime.supervisor:3 (under TYPE_CHECKING) imports agent_console.tui.app",
        "terminal/ imports no layer above it: agent_console.terminal.tmux:2 imports agent_console.runtime.supervisor",
        "tui/ never imports the command line: agent_console.tui.app:2 imports agent_console.cli.entry",
        "widgets/ does no I/O: agent_console.widgets.tree:1 imports subprocess",
    ]


def test_the_checker_finds_a_cycle_through_the_app_also_under_type_checking(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "console/tui/__init__.py": "",
            "console/tui/app.py": "from .commands import run\n",
            "console/tui/commands.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .app import App\n"
            ),
            "console/tui/dialogs.py": "from agent_console.tui import app\n",  # one way only: no cycle
        },
    )
    assert cycles(root) == [["agent_console.tui.app", "agent_console.tui.commands"]]
    assert describe_cycle(root, cycles(root)[0]) == (
        "agent_console.tui.app:1 → agent_console.tui.commands; "
        "agent_console.tui.commands:3 (under TYPE_CHECKING) → agent_console.tui.app"
    )


# --- backends are asked through their interface -------------------------------------------------------------


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
