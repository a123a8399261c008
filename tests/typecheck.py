"""Type-check the installed package with mypy: `python tests/typecheck.py` (exit status 0 when it finds nothing).

mypy cannot follow the editable install's import hook, and the folders are not named as their packages
(`console/` is `agent_console`, `agents/` is `agent_console.agents`, …: `[tool.setuptools.package-dir]`). So
this lays the package out as installed, as symlinks under `.mypy_cache/`, checks `-p agent_console` there with
the configuration in pyproject.toml, and names each file as it is in the repository.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / ".mypy_cache" / "packages"


def package_folders() -> dict[str, Path]:
    """Package name → its folder, as pyproject.toml maps them (parents before their subpackages)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    mapping = config["tool"]["setuptools"]["package-dir"]
    return {name: ROOT / folder for name, folder in sorted(mapping.items(), key=lambda item: item[0].count("."))}


def lay_out() -> dict[Path, Path]:
    """The package as installed, as symlinks under TREE; each package's place there → its folder."""
    folders = package_folders()
    places = {TREE.joinpath(*name.split(".")): folder for name, folder in folders.items()}
    for place, folder in places.items():
        place.mkdir(parents=True, exist_ok=True)
        for link in place.iterdir():
            if link.is_symlink():
                link.unlink()
        for entry in folder.iterdir():
            if entry.name != "__pycache__" and place / entry.name not in places:
                (place / entry.name).symlink_to(entry)
    return places


def run_mypy() -> subprocess.CompletedProcess[str]:
    places = lay_out()
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "-p", "agent_console"],
        cwd=TREE,
        capture_output=True,
        text=True,
        check=False,
    )
    # `agent_console/agents/spec.py:3: …` → `agents/spec.py:3: …` (the deepest package first)
    output = result.stdout
    for place, folder in sorted(places.items(), key=lambda item: -len(item[0].parts)):
        output = output.replace(f"{place.relative_to(TREE)}/", f"{folder.relative_to(ROOT)}/")
    return subprocess.CompletedProcess(result.args, result.returncode, output, result.stderr)


if __name__ == "__main__":
    checked = run_mypy()
    print(checked.stdout, end="")
    print(checked.stderr, end="", file=sys.stderr)
    sys.exit(checked.returncode)
