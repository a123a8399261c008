"""The console end to end on the iTerm2 backend: the headless App and its supervisor drive the fake iTerm2
(real shells in real ptys) through the real `iterm2` library, for a four-agent org."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent_console.agents.events import StatusReported
from agent_console.agents.layout import layout_cells, plan_from_data
from agent_console.agents.protocol import encode
from agent_console.agents.spec import load_spec
from agent_console.runtime.deployment import PLAN_OPTION
from agent_console.runtime.status_line import figures_line
from agent_console.runtime.supervisor import Supervisor
from agent_console.terminal.iterm2 import STATUS_BAR_ID, ITerm2Backend
from agent_console.terminal.iterm2_layout import cell_shape, shape_text
from agent_console.themes import state_color, team_color
from agent_console.tui.app import ConsoleApp

from .fake_iterm2.fixture import fake_iterm2_per_build

SPEC = """
[org]
name = "quad"


[[team]]
name = "core"
color = "#3b82f6"

[[team]]
name = "ops"
color = "#22c55e"

[[agent]]
name = "ann"
team = "core"
command = "sh"
role = "coordinator"
env = { PS1 = "$ " }

[[agent]]
name = "bob"
team = "core"
command = "sh"
env = { PS1 = "$ " }

[[agent]]
name = "cat"
team = "ops"
command = "sh"
env = { PS1 = "$ " }

[[agent]]
name = "dan"
team = "ops"
command = "sh"
env = { PS1 = "$ " }
recovery = { ladder = ["page"] }  # its exit is left for the human (and the next console) to see
"""
APP_SIZE = (120, 40)

fake_iterm2 = fake_iterm2_per_build()


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    short = Path(tempfile.mkdtemp(prefix="acrt", dir="/tmp"))  # the control socket's path must stay short
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(short))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    yield short
    shutil.rmtree(short, ignore_errors=True)


async def until(condition: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    """A bounded wait for something real to happen (the App's own loop keeps running meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def _hex(color: dict[str, Any]) -> str:
    return "#" + "".join(f"{round(color[f'{part} Component'] * 255):02x}" for part in ("Red", "Green", "Blue"))


async def test_a_four_agent_org_runs_on_iterm2(fake_iterm2: Any, runtime: Path, tmp_path: Path) -> None:
    spec = tmp_path / "quad.toml"
    spec.write_text(SPEC)
    org = load_spec(spec)
    fake = fake_iterm2
    console = await fake.open_window("sleep 600")  # the iTerm2 session the console was started in
    backend = ITerm2Backend()
    supervisor = Supervisor(org, backend, (200, 50), exec_pane=console)
    app = ConsoleApp(supervisor, jump_back_key="M-e")
    async with app.run_test(size=APP_SIZE) as pilot:
        await until(lambda: supervisor.report is not None, "the org to come up", 30)
        assert sorted(supervisor.report.started) == ["ann", "bob", "cat", "dan"]
        panes = {name: supervisor.pane_of(name) for name in ("ann", "bob", "cat", "dan")}

        # Panes split per the plan: each plan window is a tab whose split tree and pane sizes are the plan's
        # (at 160 columns, with half for the console, the second team spills into a second tab).
        plan = plan_from_data(json.loads(await backend.session_option(PLAN_OPTION)))
        assert [window.teams for window in plan.windows] == [("core",), ("ops",)]
        sizes = {info.pane: (info.width, info.height) for info in await backend.list_panes(all_sessions=False)}
        tabs = set()
        for window in plan.windows:
            slot_panes = [console if slot == "exec" else panes[slot] for slot in window.slots()]
            tab = (await backend.pane(slot_panes[0])).window
            tabs.add(tab)
            cells = layout_cells(window.root, *await backend.window_size(tab))
            assert await backend.window_layout(tab) == shape_text(cell_shape(cells, slot_panes))
            rects = cells.rects()
            for slot, pane in zip(window.slots(), slot_panes, strict=True):
                assert _near(sizes[pane], rects[slot][2:]), (slot, sizes[pane], rects[slot])
        assert len(tabs) == 2

        # Colours and badges follow states: the team's tab colour at first.
        await until(lambda: fake.profile(panes["ann"]).get("Badge Text"), "ann's first badge")
        assert _hex(fake.shown(panes["ann"], "Tab Color")) == team_color(0, "#3b82f6")
        assert _hex(fake.shown(panes["cat"], "Tab Color")) == team_color(1, "#22c55e")

        # An agent's custom sequence (printed by its own program) updates its state, badge and colour.
        sequence = tmp_path / "waiting.seq"
        sequence.write_bytes(encode(supervisor.tokens["ann"], StatusReported(state="waiting", task="deploy?")))
        await fake.type_keys(panes["ann"], f"cat {sequence}\r")
        await until(lambda: supervisor.state.agents["ann"].state.value == "waiting", "ann waiting")
        await until(lambda: "waiting" in fake.profile(panes["ann"])["Badge Text"], "ann's badge saying waiting")
        assert _hex(fake.shown(panes["ann"], "Tab Color")) == state_color("waiting")
        assert supervisor.state.agents["ann"].task == "deploy?"

        # The org's figures in iTerm2's status bar follow the org: pending approvals first, then states.
        deadline = time.monotonic() + 10
        while True:
            expected = figures_line(supervisor.org.name, supervisor.state)
            shown = await fake.evaluate_status_bar_component(STATUS_BAR_ID, console)
            if shown == expected and "◆1" in shown:  # ann waiting
                break
            assert time.monotonic() < deadline, f"the status bar shows {shown!r}, not {expected!r}"
            await asyncio.sleep(0.05)
        assert shown.index("pending") < shown.index("◆1")

        # A focus change routes as on tmux: the human is typing in bob's pane now.
        await fake.focus(panes["bob"])
        await until(lambda: supervisor.human_at() == {"bob"}, "focus on bob routed to the supervisor")
        await until(lambda: "⌨" in _tree_label(app, "bob"), "bob marked as typed in, in the org tree")
        assert "⌨" not in _tree_label(app, "ann")
        await fake.switch_app(False)  # the human leaves iTerm2: nobody types in bob's pane now
        await until(lambda: "⌨" not in _tree_label(app, "bob"), "bob's mark cleared when iTerm2 lost the focus")
        await pilot.pause()

        # /restart of a running agent: the same pane (iTerm2 relaunches it as a new session), its reports heard.
        await supervisor.restart_agent("cat")
        assert supervisor.pane_of("cat") == panes["cat"] and fake.current_id(panes["cat"]) != panes["cat"]
        sequence.write_bytes(encode(supervisor.tokens["cat"], StatusReported(state="waiting", task="after restart")))
        await fake.type_keys(fake.current_id(panes["cat"]), f"cat {sequence}\r")
        await until(lambda: supervisor.state.agents["cat"].task == "after restart", "cat's report after its restart")
        assert supervisor.state.agents["cat"].alive

        # An exit is detected; the pane stays with its last screen.
        await fake.type_keys(panes["dan"], "echo bye; exit 4\r")
        await until(lambda: not supervisor.state.agents["dan"].alive, "dan's exit")
        assert panes["dan"] in {info.pane for info in await backend.list_panes(all_sessions=False)}
        assert "bye" in await backend.capture(panes["dan"], history=20)
        await until(lambda: "offline" in fake.profile(panes["dan"])["Badge Text"], "dan's badge")

    # A restarted console re-adopts the agents by the identity kept in their sessions (and restarts dan).
    # (cat's pane holds a new session since its restart: a new console knows it by that id)
    # (iTerm2 shows a restarted session's old pid until its job poller learns the new one: a console started
    # before then takes the restarted program for dead; this one starts once iTerm2 knows it)
    cat_now = fake.current_id(panes["cat"])
    await until(lambda: fake.variables(cat_now).get("pid") == fake.session_pid(cat_now), "cat's new pid known")
    known = {name: fake.current_id(pane) for name, pane in panes.items()}
    again = Supervisor(load_spec(spec), ITerm2Backend(), (200, 50), exec_pane=console)
    try:
        report = await again.start()  # a new connection: osascript got it a cookie
        assert report.started == [] and report.restarted == ["dan"]
        assert sorted(report.adopted) == ["ann", "bob", "cat"]
        assert {name: again.pane_of(name) for name in panes} == known
        assert again.state.agents["dan"].alive
    finally:
        await again.stop()
        await again.backend.close()
    assert fake.errors == []


def _near(size: tuple[int, int], wanted: tuple[int, int], slack: int = 2) -> bool:
    """Sizes in cells, give or take what iTerm2's layout in pixels may round away."""
    return all(abs(value - goal) <= slack for value, goal in zip(size, wanted, strict=True))


def _tree_label(app: ConsoleApp, agent: str) -> str:
    """The org tree's line for `agent`."""
    nodes = list(app.org_view.root.children)
    while nodes:
        node = nodes.pop()
        data = node.data
        if data is not None and getattr(data, "kind", None) == "agent" and getattr(data, "name", None) == agent:
            return str(node.label)
        nodes.extend(node.children)
    raise AssertionError(f"{agent} is not in the org tree")


async def test_a_new_team_is_laid_out_beside_the_others(fake_iterm2: Any, runtime: Path, tmp_path: Path) -> None:
    """Growing the org reshapes the tab (iTerm2 splits a pane only in two; the tree is rearranged after)."""
    two_teams = SPEC.split("[[agent]]")[0] + "[[agent]]" + "[[agent]]".join(SPEC.split("[[agent]]")[1:3])
    spec = tmp_path / "quad.toml"
    spec.write_text(two_teams)
    backend = ITerm2Backend("quad")
    supervisor = Supervisor(load_spec(spec), backend, (160, 48))
    try:
        await supervisor.start()
        spec.write_text(SPEC)
        report = await supervisor.reconfigure(load_spec(spec))
        assert sorted(report.started) == ["cat", "dan"]  # 3.6.11 cannot apply a layout: panes are moved instead
        plan = plan_from_data(json.loads(await backend.session_option(PLAN_OPTION)))
        assert [window.teams for window in plan.windows] == [("core", "ops")]
        window = plan.windows[0]
        exec_pane = next(info.pane for info in await backend.list_panes(False) if info.agent == "exec")
        slot_panes = [exec_pane if slot == "exec" else supervisor.pane_of(slot) for slot in window.slots()]
        tab = (await backend.pane(exec_pane)).window
        cells = layout_cells(window.root, *await backend.window_size(tab))
        assert await backend.window_layout(tab) == shape_text(cell_shape(cells, slot_panes))
        sizes = {info.pane: (info.width, info.height) for info in await backend.list_panes(all_sessions=False)}
        for pane, rect in zip(slot_panes, cells.rects().values(), strict=True):
            assert _near(sizes[pane], rect[2:]), (pane, sizes[pane], rect)
        assert report.relaid == ["0"]
        assert fake_iterm2.errors == []
    finally:
        await supervisor.stop()
        await backend.close()


async def test_a_buried_agent_is_a_buried_session_still_read_and_unburied_it_takes_its_place(
    fake_iterm2: Any, runtime: Path, tmp_path: Path
) -> None:
    """cat starts buried (a buried iTerm2 session, which iTerm2 sends no screen updates): its prompt is still
    read from its screen and queued; `up` again keeps it buried; unburied, it is back in the tab, laid out."""
    spec = tmp_path / "quad.toml"
    spec.write_text(SPEC.replace('name = "cat"\nteam = "ops"', 'name = "cat"\nteam = "ops"\nburied = true'))
    backend = ITerm2Backend("quad")
    supervisor = Supervisor(load_spec(spec), backend, (160, 48))
    try:
        report = await supervisor.start()
        cat = supervisor.pane_of("cat")
        assert fake_iterm2.buried_sessions() == [cat] and "cat" in report.started
        assert supervisor.state.agents["cat"].buried
        await backend.send_text(cat, "read -p 'wipe the cache? [y/n] ' a; echo \"got=$a\"")
        await backend.send_keys(cat, ["Enter"])
        pending = await until(lambda: [a for a in supervisor.state.approvals.values() if a.agent == "cat"], "cat asks")
        await supervisor.decide(pending[0].id, True, None)
        await until(lambda: "got=y" in fake_iterm2.screen_text(cat), "the answer typed in its buried session")

        again = await supervisor.reconfigure(supervisor.org)  # `up` again
        assert fake_iterm2.buried_sessions() == [cat] and "cat" in again.adopted and not again.unburied

        unburied = supervisor.org.replaced(
            agents=tuple(a.model_copy(update={"buried": False}) for a in supervisor.org.agents)
        )
        report = await supervisor.reconfigure(unburied)
        assert report.unburied == ["cat"] and fake_iterm2.buried_sessions() == []
        exec_pane = next(info.pane for info in await backend.list_panes(False) if info.agent == "exec")
        assert (await backend.pane(cat)).window == (await backend.pane(exec_pane)).window
        plan = plan_from_data(json.loads(await backend.session_option(PLAN_OPTION)))
        assert "cat" in plan.windows[0].slots()
        assert fake_iterm2.errors == []
    finally:
        await supervisor.stop()
        await backend.close()


async def test_auto_probes_then_the_console_runs_on_the_probes_connection(
    fake_iterm2: Any, runtime: Path, tmp_path: Path
) -> None:
    """A console iTerm2 started gets one cookie: `--backend auto` probes with it and keeps that connection."""
    spec = tmp_path / "duo.toml"
    spec.write_text(SPEC.split("[[agent]]")[0] + "[[agent]]" + SPEC.split("[[agent]]")[1])
    fake = fake_iterm2
    env = {
        "ITERM2_COOKIE": fake.mint_cookie(),
        "ITERM2_KEY": fake.key,
        "HOME": str(fake.home),
        "XDG_RUNTIME_DIR": str(runtime),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "TERM": "xterm-256color",
    }
    command = [sys.executable, "-m", "agent_console.cli", "--backend", "auto", str(spec)]
    console = await fake.open_window(command, env=env, cwd=tmp_path)
    await fake.wait_until(lambda: len(fake.sessions()) == 2, 60, "the console to start ann beside itself")
    screen = fake.screen_text(console)
    assert "error" not in screen.lower(), screen
    assert fake.rejected_connections == [] and fake.cookie_requests == 0
    assert fake.client_count == 1  # one connection: the probe's
