"""Shared fixtures, and the test tiers (docs/architecture.md, "Tests").

Every tmux server a test starts is private (-L) and killed at the end. Each test gets a tier marker from what it
uses: `tmux` (a private tmux server), `iterm2` (the fake iTerm2 server), `real_agents` (real agent CLIs,
tests/test_real_*), `ui` (runs a Textual app under Pilot or as a snapshot: no terminal server, but up to seconds
a test), and `unit` for everything else: no terminal server, no agent processes, no app, so `pytest -m unit`
runs without tmux in about a minute. `security` (tests/security) is a theme, not a tier: those tests have a tier too.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Property tests judge their examples, not the machine's speed: no deadline or slow-generation check, which fail
# on a loaded machine or under `pytest -n auto` (a test's own @settings still chooses its examples).
settings.register_profile("agent-console", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("agent-console")

TIER_OF_FIXTURE = {"tmux_socket": "tmux", "fake_iterm2": "iterm2"}
TIERS = ("tmux", "iterm2", "real_agents", "ui")


@functools.cache
def _runs_an_app(function: Callable[..., object]) -> bool:
    """Whether a test's own code runs a Textual app (`run_test`); apps run by helpers are marked per module."""
    try:
        return "run_test(" in inspect.getsource(function)
    except (OSError, TypeError):
        return False


def tiers_of(item: pytest.Item) -> set[str]:
    """The tiers a test belongs to by the fixtures it uses (directly or through other fixtures) and its module."""
    found = {tier for fixture, tier in TIER_OF_FIXTURE.items() if fixture in getattr(item, "fixturenames", ())}
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "terminal" in callspec.params:  # the conformance suite's backend parameter
        found.add("tmux" if callspec.params["terminal"] == "tmux" else "iterm2")
    if item.path.name.startswith("test_real_"):
        found.add("real_agents")
    function = getattr(item, "function", None)
    if "snap_compare" in getattr(item, "fixturenames", ()) or (function is not None and _runs_an_app(function)):
        found.add("ui")
    found |= {mark.name for mark in item.iter_markers() if mark.name in TIERS}
    return found


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tiers = tiers_of(item)
        for tier in sorted(tiers - {mark.name for mark in item.iter_markers()}):
            item.add_marker(tier)
        if not tiers:
            item.add_marker(pytest.mark.unit)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Never reach the user's tmux server, config, state or sockets, nor another test's (tests run in parallel):
    no TMUX, a private HOME (state and config default under it), a private runtime dir for control sockets."""
    monkeypatch.delenv("TMUX", raising=False)
    monkeypatch.delenv("TMUX_PANE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    for name in ("XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)
    # pytest-xdist workers have COLUMNS=80 LINES=24: a console a test starts in a pane would size itself by them
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)
    # Without it sockets go to /tmp/agent-console-<uid>, one for every test. Short: a unix socket's path is capped.
    runtime = tempfile.mkdtemp(prefix="acrun", dir="/tmp")
    monkeypatch.setenv("XDG_RUNTIME_DIR", runtime)
    yield
    shutil.rmtree(runtime, ignore_errors=True)


@pytest.fixture(autouse=True)
def _snapshots_without_the_machines_boundary(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A snapshot draws the console, not this machine: whether bubblewrap works here must not add the
    "agents can act as you" banner to it (snapshot apps start no agent; the banner has tests of its own)."""
    if "snap_compare" in request.fixturenames:
        from agent_console.runtime import isolation

        monkeypatch.setattr(isolation, "_unavailable", lambda: (None, ""))


@pytest.fixture
def tmux_socket() -> Iterator[str]:
    """A unique tmux socket name; its server (if a test started one) is killed afterwards."""
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed: the tests need a real tmux (apt-get install tmux)")
    name = f"ac-test-{uuid.uuid4().hex[:10]}"
    yield name
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    subprocess.run(["tmux", "-L", name, "kill-server"], capture_output=True, env=env, check=False)


def tmux(socket: str, *args: str) -> str:
    """Run a one-off tmux command against the private server (for assertions from outside)."""
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    result = subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True, env=env, check=False)
    return result.stdout


def wait_for(condition, timeout: float = 10.0, what: str = "condition"):
    """Poll `condition` (a test's bounded wait for something real to happen) until it gives a true value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def when(value, test):
    """`value` if `test(value)`, else None: lets `wait_for` return what it waited for."""
    return value if test(value) else None


def pid_namespace(pid: int) -> str:
    """The PID namespace a process runs in (`pid:[4026531836]`)."""
    return os.readlink(f"/proc/{pid}/ns/pid")


def descendants(pid: int) -> list[int]:
    """Every process under `pid` (children first), as this side of any namespace numbers them."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        found += [int(child) for child in children]
        todo += [int(child) for child in children]
    return found


def runs_in_own_pid_namespace(pane_pid: int) -> bool:
    """Whether the program of a pane (whose pid is the pane's first process: bubblewrap, when bounded) runs in
    another PID namespace than this test: every process under the pane, and at least one."""
    ours = pid_namespace(os.getpid())
    under = []
    for pid in descendants(pane_pid):
        with contextlib.suppress(OSError):  # ended meanwhile
            under.append(pid_namespace(pid))
    return bool(under) and all(namespace != ours for namespace in under)
