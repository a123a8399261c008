"""`agent-console up / ls / down` end to end, on a real private tmux server with real programs in the panes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent_console.agents.layout import layout_cells, plan_layout
from agent_console.agents.spec import load_spec
from agent_console.cli.entry import main

from .conftest import descendants, tmux

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PANE_FIELDS = (
    "#{pane_id}|#{pane_pid}|#{window_index}|#{pane_left}|#{pane_top}|#{pane_width}|#{pane_height}|"
    "#{@agent_console_agent}|#{pane_dead}"
)


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    """A copy of the example org, free to edit."""
    target = tmp_path / "org"
    shutil.copytree(EXAMPLES, target)
    return target / "team.toml"


def panes(socket: str) -> dict[str, dict]:
    rows = {}
    for line in tmux(socket, "list-panes", "-a", "-F", PANE_FIELDS).splitlines():
        pane, pid, window, left, top, width, height, agent, dead = line.split("|")
        rows[agent] = {
            "pane": pane,
            "pid": int(pid),
            "window": int(window),
            "rect": (int(left), int(top), int(width), int(height)),
            "dead": dead == "1",
        }
    return rows


def on_screen(rect: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """Where tmux shows a planned cell: panes on the top row give their first line to the title line
    (the others' titles sit on the border above them)."""
    x, y, width, height = rect
    return (x, 1, width, height - 1) if y == 0 else rect


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent_console.cli", *args], capture_output=True, text=True, timeout=60, check=False
    )


def up(spec: Path, socket: str, *extra: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["up", str(spec), "--socket-name", socket, "--size", "200x50", *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_up_lays_out_the_org_chart_and_runs_each_agent(spec: Path, tmux_socket: str, capsys) -> None:
    code, said = up(spec, tmux_socket, capsys=capsys)
    assert code == 0, said
    assert "4 started" in said and f"tmux -L {tmux_socket} attach -t api" in said

    org = load_spec(spec)
    plan = plan_layout(org, (200, 50))
    rects = layout_cells(plan.windows[0].root, 200, 50).rects()
    live = panes(tmux_socket)
    assert set(live) == {"exec", "lead", "api", "migrations", "ui"}
    for slot, rect in rects.items():
        assert live[slot]["rect"] == on_screen(rect), slot
    assert live["exec"]["rect"][0] == 0 and live["exec"]["rect"][2] == 60  # executive column, left, ~30%

    api = live["api"]
    environ = dict(
        item.split("=", 1) for item in Path(f"/proc/{api['pid']}/environ").read_text().split("\0") if "=" in item
    )
    assert environ["SERVICE"] == "api" and environ["AGENT_CONSOLE_AGENT"] == "api"
    assert environ["AGENT_CONSOLE_ORG"] == "api"
    assert Path(f"/proc/{api['pid']}/cwd").resolve() == spec.parent.resolve()
    # The pane's process is the boundary (bubblewrap, where it works); the agent's program runs inside it.
    program = descendants(api["pid"])[-1] if shutil.which("bwrap") else api["pid"]
    assert Path(f"/proc/{program}/cmdline").read_text().split("\0")[:2] == ["bash", "--norc"]
    title = tmux(tmux_socket, "display", "-p", "-t", api["pane"], "#{T:pane-border-format}")
    assert "api · backend" in title and "#3b82f6" in title


def test_up_again_changes_nothing(spec: Path, tmux_socket: str, capsys) -> None:
    assert up(spec, tmux_socket, capsys=capsys)[0] == 0
    before = panes(tmux_socket)
    layout = tmux(tmux_socket, "list-windows", "-a", "-F", "#{window_id} #{window_layout}")
    code, said = up(spec, tmux_socket, capsys=capsys)
    assert code == 0
    assert "is up to date" in said and "nothing to do" in said
    assert panes(tmux_socket) == before
    assert tmux(tmux_socket, "list-windows", "-a", "-F", "#{window_id} #{window_layout}") == layout


def test_ls_lists_agents_as_table_and_json(spec: Path, tmux_socket: str, capsys) -> None:
    assert up(spec, tmux_socket, capsys=capsys)[0] == 0
    assert main(["ls", "--json", "--socket-name", tmux_socket]) == 0
    rows = json.loads(capsys.readouterr().out)
    live = panes(tmux_socket)
    assert [row["name"] for row in rows] == ["lead", "api", "migrations", "ui"]
    for row in rows:
        assert row["pane"] == live[row["name"]]["pane"] and row["pid"] == live[row["name"]]["pid"]
        assert row["alive"] is True and row["org"] == "api" and row["kind"] == "shell"
        assert row["command"] == "bash --norc"
    assert {row["name"]: row["team"] for row in rows}["migrations"] == "db"
    assert main(["ls", "--socket-name", tmux_socket]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["NAME", "TEAM", "KIND", "PANE", "PID", "ALIVE", "COMMAND"]
    assert table[2].split()[:3] == ["api", "backend", "shell"]


def test_down_closes_the_org(spec: Path, tmux_socket: str, capsys) -> None:
    assert up(spec, tmux_socket, capsys=capsys)[0] == 0
    pids = [row["pid"] for row in panes(tmux_socket).values()]
    assert main(["down", str(spec), "--socket-name", tmux_socket]) == 0
    assert "org 'api' is down: closed 4 agent pane(s)" in capsys.readouterr().out
    assert tmux(tmux_socket, "list-panes", "-a") == ""
    wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in pids))
    assert main(["ls", "--json", "--socket-name", tmux_socket]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_dead_agent_is_shown_and_restarted_in_its_pane(spec: Path, tmux_socket: str, capsys) -> None:
    assert up(spec, tmux_socket, capsys=capsys)[0] == 0
    victim = panes(tmux_socket)["api"]
    os.kill(victim["pid"], signal.SIGKILL)
    wait_until(lambda: panes(tmux_socket)["api"]["dead"])
    assert main(["ls", "--json", "--socket-name", tmux_socket]) == 0
    assert {row["name"]: row["alive"] for row in json.loads(capsys.readouterr().out)}["api"] is False
    code, said = up(spec, tmux_socket, capsys=capsys)
    assert code == 0 and "1 restarted" in said
    again = panes(tmux_socket)["api"]
    assert again["pane"] == victim["pane"] and again["pid"] != victim["pid"] and not again["dead"]


def test_new_agent_gets_one_pane_and_nobody_else_moves(spec: Path, tmux_socket: str, capsys) -> None:
    assert up(spec, tmux_socket, capsys=capsys)[0] == 0
    before = panes(tmux_socket)
    spec.write_text(spec.read_text() + '\n[[agent]]\nname = "cache"\nteam = "db"\ncommand = "bash --norc"\n')
    code, said = up(spec, tmux_socket, capsys=capsys)
    assert code == 0 and "1 started" in said
    after = panes(tmux_socket)
    assert set(after) == set(before) | {"cache"}
    for name, row in before.items():
        assert (after[name]["pane"], after[name]["pid"], after[name]["window"]) == (
            row["pane"],
            row["pid"],
            row["window"],
        )
    org = load_spec(spec)
    rects = layout_cells(plan_layout(org, (200, 50)).windows[0].root, 200, 50).rects()
    assert after["cache"]["rect"] == on_screen(rects["cache"])


def test_agent_removed_from_spec_is_an_orphan_until_asked(spec: Path, tmux_socket: str, capsys) -> None:
    assert up(spec, tmux_socket, capsys=capsys)[0] == 0
    text = spec.read_text()
    start = text.index('[[agent]]\nname = "ui"')
    spec.write_text(text[:start])
    code, said = up(spec, tmux_socket, capsys=capsys)
    assert code == 0 and "not in the spec but still running: ui" in said
    assert "ui" in panes(tmux_socket)
    code, said = up(spec, tmux_socket, "--remove-orphans", capsys=capsys)
    assert code == 0 and "1 removed" in said, said
    assert "ui" not in panes(tmux_socket)


def test_big_org_spills_whole_teams_into_windows(tmp_path: Path, tmux_socket: str, capsys) -> None:
    lines = ['[org]\nname = "big"\n']
    for team in range(4):
        lines.append(f'[[team]]\nname = "t{team}"\n')
    for agent in range(14):
        lines.append(f'[[agent]]\nname = "a{agent}"\nteam = "t{agent % 4}"\ncommand = "sleep 600"\n')
    spec = tmp_path / "big.toml"
    spec.write_text("\n".join(lines))
    code = main(["up", str(spec), "--socket-name", tmux_socket, "--size", "120x40"])
    said = capsys.readouterr()
    assert code == 0, said.err
    plan = plan_layout(load_spec(spec), (120, 40))
    assert len(plan.windows) > 1
    live = panes(tmux_socket)
    for window in plan.windows:
        rects = layout_cells(window.root, 120, 40).rects()
        for slot, rect in rects.items():
            assert live[slot]["window"] == window.index, slot
            assert live[slot]["rect"] == on_screen(rect), slot
    windows = tmux(tmux_socket, "list-windows", "-F", "#{window_index} #{window_name}").splitlines()
    assert len(windows) == len(plan.windows)


def test_bad_spec_is_one_line_and_starts_nothing(tmp_path: Path, tmux_socket: str) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text('[org]\nname = "x"\n[[team]]\nname = "a"\n[[agent]]\nname = "b"\nteam = "zz"\n')
    result = run_cli("up", str(spec), "--socket-name", tmux_socket)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"agent-console: error: {spec}: agent[0] (\"b\").team: unknown team 'zz' (teams: a)"
    )
    assert result.stdout == ""
    assert subprocess.run(["tmux", "-L", tmux_socket, "has-session"], capture_output=True).returncode != 0


def test_server_killed_under_up_is_a_clear_error(tmp_path: Path, tmux_socket: str) -> None:
    # The first agent's program kills the tmux server while `up` is still placing the others (it can reach the
    # server only without an isolation boundary).
    lines = ['[org]\nname = "doomed"\nisolation = "none"\n[[team]]\nname = "t"\n']
    lines.append(f'[[agent]]\nname = "killer"\nteam = "t"\ncommand = "tmux -L {tmux_socket} kill-server"\n')
    for n in range(6):
        lines.append(f'[[agent]]\nname = "w{n}"\nteam = "t"\ncommand = "sleep 60"\n')
    spec = tmp_path / "doomed.toml"
    spec.write_text("\n".join(lines))
    result = run_cli("up", str(spec), "--socket-name", tmux_socket, "--size", "200x80")
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"agent-console: error: while bringing up org 'doomed': tmux server {tmux_socket!r} went away "
        "(the server was killed, or the session closed)"
    )


def test_nothing_running_is_said_plainly(tmux_socket: str) -> None:
    result = run_cli("ls", "--socket-name", tmux_socket)
    assert result.returncode == 0
    assert (
        result.stderr.strip() == f"no agents: no tmux server is running on socket {tmux_socket!r} (nothing is up there)"
    )
    result = run_cli("down", "--socket-name", tmux_socket)
    assert result.returncode == 0 and "nothing to stop" in result.stderr


def test_down_asks_which_org_when_several_run(spec: Path, tmp_path: Path, tmux_socket: str, capsys) -> None:
    assert up(spec, tmux_socket, capsys=capsys)[0] == 0
    other = tmp_path / "other.toml"
    other.write_text(
        '[org]\nname = "other"\n[[team]]\nname = "t"\n[[agent]]\nname = "x"\nteam = "t"\ncommand = "sleep 60"\n'
    )
    assert main(["up", str(other), "--socket-name", tmux_socket, "--size", "200x50"]) == 0
    capsys.readouterr()
    assert main(["down", "--socket-name", tmux_socket]) == 2
    assert "several orgs are running (api, other)" in capsys.readouterr().err
    assert main(["down", "--org", "other", "--socket-name", tmux_socket]) == 0
    assert set(panes(tmux_socket)) == {"exec", "lead", "api", "migrations", "ui"}


def test_help_explains_the_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("up", "ls", "down"):
        assert command in result.stdout
    result = run_cli("up", "--help")
    assert "--socket-name" in result.stdout and "--remove-orphans" in result.stdout


def test_demo_starts_afresh_unless_its_agents_still_run(
    tmux_socket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent_console.agents.events import ApprovalRequested
    from agent_console.agents.journal import Journal, load_or_create_key, read_anchor
    from agent_console.runtime import paths
    from agent_console.runtime.demo import fresh_or_resumed

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    folder = paths.state_dir("demo")
    key = load_or_create_key(folder / "journal.key")
    anchor = folder / "journal.anchor"
    with Journal.open(folder / "journal.jsonl", key, anchor=anchor) as journal:  # the last demo left a request
        journal.append("api", ApprovalRequested(id="a1", text="stale", command="make migrate"))
    said = fresh_or_resumed(tmux_socket)
    assert said == f"a fresh demo (the last one's journal is kept as {folder / 'journal.previous.jsonl'})"
    assert not (folder / "journal.jsonl").exists()
    assert read_anchor(folder / "journal.previous.anchor", key).seq == 1  # the anchor went with its journal
    with Journal.open(folder / "journal.jsonl", key, anchor=anchor) as journal:  # and the fresh one may start
        assert journal.seq == 0
    (folder / "journal.jsonl").unlink()

    (folder / "journal.jsonl").write_text("")
    tmux(tmux_socket, "-f", "/dev/null", "new-session", "-d", "-s", "demo", "sleep 600")
    tmux(tmux_socket, "set", "-p", "-t", "demo", "@agent_console_org", "demo")
    tmux(tmux_socket, "set", "-p", "-t", "demo", "@agent_console_agent", "api")
    assert fresh_or_resumed(tmux_socket).startswith("resumed the demo that was running")
    assert (folder / "journal.jsonl").exists()
