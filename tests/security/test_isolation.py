"""From inside an agent's pane, the human's authority is out of reach: the agent (a real shell running in its
boundary under `serve`, commands typed into it) tries to read the human's token, the agents' tokens and the
journal's key, another pane's environment, and to type into the console's pane through tmux — each fails,
while the legitimate path (`agent-console emit`/`ask` with its own token) still works from the same pane."""

from __future__ import annotations

import base64
import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from agent_console.agents.model import Agent, AgentKind, Isolation, Org, Team
from agent_console.runtime import isolation
from agent_console.runtime.deployment import agent_launch, program_launch
from agent_console.runtime.isolation import LOGIN_SHELL

from ..conftest import descendants, pid_namespace, runs_in_own_pid_namespace, tmux, wait_for, when
from ..test_serve import Served, read

needs_bwrap = pytest.mark.skipif(
    shutil.which("bwrap") is None or isolation.probe(shutil.which("bwrap") or "") is not None,
    reason="bubblewrap (bwrap) is not installed or cannot make a sandbox here: apt-get install bubblewrap",
)
DONE = "__done__"


def run_in(served: Served, agent: str, script: str, out: Path) -> str:
    """Type `script` into the agent's shell, its output and errors into `out`; what it wrote, once done."""
    served.type_in(agent, f"{{ {script} ; }} > {out} 2>&1; echo {DONE} >> {out}")
    return wait_for(lambda: when(read(out), lambda text: text is not None and DONE in text), 20, f"{agent}: {script}")


def state(served: Served) -> Path:
    return served.root / "state" / "agent-console" / "crew"


@pytest.fixture
def bounded(served: Served) -> Served:
    """The org served with the default isolation (`auto`), where bubblewrap works: every agent is inside."""
    program = shutil.which("bwrap")
    if program is None or isolation.probe(program) is not None:
        pytest.skip("bubblewrap (bwrap) is not installed or cannot make a sandbox here: apt-get install bubblewrap")
    for name in ("ann", "bob"):
        pid = served.agents()[name]["pid"]
        wait_for(lambda pid=pid: runs_in_own_pid_namespace(pid), 10, f"{name}'s shell inside its boundary")
    return served


def test_an_agent_cannot_read_the_human_token_the_agent_tokens_or_the_journal_key(
    bounded: Served, tmp_path: Path
) -> None:
    secrets = {  # as the attacker would print them: base64 (the key is bytes)
        name: base64.b64encode((state(bounded) / name).read_bytes()).decode()
        for name in ("human.token", "tokens.json", "journal.key")
    }
    assert all(secrets.values())  # they are there, outside the boundary
    for name, secret in secrets.items():
        out = run_in(bounded, "ann", f"base64 -w0 {state(bounded) / name}", tmp_path / f"{name}.out")
        assert "No such file or directory" in out, out
        assert secret[:16] not in out
    for token in json.loads((state(bounded) / "tokens.json").read_text()).values():
        assert token not in read(tmp_path / "tokens.json.out")  # type: ignore[operator]
    listing = run_in(bounded, "ann", f"ls -A {state(bounded)} {state(bounded).parent}", tmp_path / "ls.out")
    assert "journal" not in listing and "token" not in listing, listing
    assert "public" in listing  # what its program may read (hook settings), read-only:
    refused = run_in(bounded, "ann", f"touch {state(bounded) / 'public' / 'x'}", tmp_path / "touch.out")
    assert "Read-only file system" in refused and not (state(bounded) / "public" / "x").exists()


def test_an_agent_cannot_read_another_agents_environment(bounded: Served, tmp_path: Path) -> None:
    bob = bounded.agents()["bob"]["pid"]
    bobs_token = json.loads((state(bounded) / "tokens.json").read_text())["bob"]
    assert bobs_token in Path(f"/proc/{bob}/environ").read_text()  # the console reads it there (its check)
    tries = " ; ".join(f"tr '\\0' '\\n' < /proc/{pid}/environ" for pid in [bob, *descendants(bob)])
    out = run_in(bounded, "ann", tries, tmp_path / "environ.out")
    assert bobs_token not in out, out
    assert "No such file or directory" in out


def test_an_agent_sees_only_its_own_processes(bounded: Served, tmp_path: Path) -> None:
    script = "for p in /proc/[0-9]*; do echo \"${p#/proc/} $(tr '\\0' ' ' < $p/cmdline)\"; done"
    out = run_in(bounded, "ann", script, tmp_path / "proc.out")
    rows = [line for line in out.splitlines() if line and line != DONE]
    assert rows and len(rows) < 10, rows  # bwrap as init, the shell, what it runs now
    assert rows[0].startswith("1 ") and "bwrap" in rows[0].split()[1], rows  # a namespace of its own, from 1
    programs = {Path(row.split()[1]).name for row in rows[1:]}
    assert programs <= {"sh", "bash", "tr"}, rows  # no console, no tmux server, no other agent
    assert all(int(row.split()[0]) < 100 for row in rows), rows


def test_an_agent_cannot_read_or_write_another_panes_terminal(bounded: Served, tmp_path: Path) -> None:
    console = tmux(bounded.socket, "display", "-p", "-t", "%0", "#{pane_tty}").strip()  # the human's pane
    bob = tmux(bounded.socket, "display", "-p", "-t", bounded.pane("bob"), "#{pane_tty}").strip()
    assert console.startswith("/dev/pts/") and bob.startswith("/dev/pts/")
    attacks = [f"timeout 2 cat {console}", f"echo FORGED-BY-ANN > {bob}", "tty", "ls /dev/pts"]
    out = run_in(bounded, "ann", " ; ".join(attacks), tmp_path / "pts.out")
    refused = [line for line in out.splitlines() if line.endswith(("No such file or directory", "Permission denied"))]
    assert len(refused) == 2, out  # neither terminal is there (and nothing can be made in its own /dev/pts)
    assert "/dev/console" in out.splitlines()  # its own pane is its terminal still
    assert out.splitlines()[-2] == "ptmx", out  # ptys of its own only
    assert "FORGED-BY-ANN" not in tmux(bounded.socket, "capture-pane", "-p", "-t", bounded.pane("bob"))


def test_an_agent_cannot_reach_the_tmux_server(bounded: Served, tmp_path: Path) -> None:
    marker = tmp_path / "typed-by-ann"
    sockets = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}"
    socket = sockets / bounded.socket
    attacks = [
        "echo TMUX=$TMUX TMUX_PANE=$TMUX_PANE",
        f"tmux -L {bounded.socket} send-keys -t %0 'touch {marker}' Enter",
        f"tmux -S {socket} send-keys -t {bounded.pane('bob')} 'touch {marker}' Enter",
        f"TMUX={socket},1,0 tmux send-keys -t %0 y",
    ]
    out = run_in(bounded, "ann", " ; ".join(attacks), tmp_path / "tmux.out")
    assert out.splitlines()[0] == "TMUX= TMUX_PANE=", out  # nothing names the server
    assert out.count("no server running") + out.count("error connecting") == 3, out
    assert run_in(bounded, "ann", f"ls -A {sockets}", tmp_path / "ls.out") == DONE  # no socket of any server
    assert not marker.exists()
    assert tmux(bounded.socket, "display", "-p", "-t", "%0", "#{pane_id}").strip() == "%0"  # the server is up


def test_the_legitimate_path_still_works_from_inside(bounded: Served, tmp_path: Path) -> None:
    bounded.type_in("ann", "agent-console emit status working --task 'inside the boundary'")
    row = wait_for(lambda: when(bounded.agents()["ann"], lambda r: r["state"] == "working"), 15, "ann working")
    assert row["task"] == "inside the boundary"
    out = tmp_path / "ask.out"
    bounded.type_in("ann", f"agent-console ask 'deploy?' --command 'make deploy'; echo $? > {out}")
    pending = wait_for(lambda: json.loads(bounded.cli("approvals", "--json").stdout), 15, "ann's request")
    assert pending[0]["agent"] == "ann"  # its own token named it
    assert bounded.cli("approve", pending[0]["id"]).returncode == 0
    assert wait_for(lambda: read(out), 15, "ask to end") == "0"
    # The console still reads each agent's token where tmux gave it: the pane's process (bubblewrap).
    ann = bounded.agents()["ann"]["pid"]
    token = json.loads((state(bounded) / "tokens.json").read_text())["ann"]
    assert f"AGENT_CONSOLE_TOKEN={token}" in Path(f"/proc/{ann}/environ").read_text().split("\0")


# --- the wrapping ----------------------------------------------------------------------------------------------


@needs_bwrap
def test_every_agent_is_launched_inside_the_boundary_and_keeps_only_its_public_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    claude = Agent(name="c", team="t", kind=AgentKind.CLAUDE, cwd=tmp_path)
    shell = Agent(name="s", team="t", cwd=tmp_path)  # no command: the user's login shell
    org = Org(name="o", teams=(Team(name="t"),), agents=(claude, shell))
    for agent, inner in ((claude, program_launch(org, claude, dict).command), (shell, LOGIN_SHELL)):
        launch = agent_launch(org, agent, dict)
        words = shlex.split(launch.command or "")
        assert Path(words[0]).name == "bwrap" and words[-4:] == ["--", "/bin/sh", "-c", inner]
        hidden = {words[i + 1] for i, word in enumerate(words) if word == "--tmpfs"}
        assert str(tmp_path / "state" / "agent-console") in hidden
        assert (
            str(Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}") in hidden
            or not Path("/tmp", f"tmux-{os.getuid()}").exists()
        )
        public = str(tmp_path / "state" / "agent-console" / "o" / "public")
        assert words[words.index("--ro-bind", words.index("--ro-bind") if "/dev/null" in words else 0) :]
        assert [words[i + 1 : i + 3] for i, word in enumerate(words) if word == "--ro-bind"][-1] == [public, public]
        assert launch.env == program_launch(org, agent, dict).env  # its token and socket stay in its environment
    settings = shlex.split(program_launch(org, claude, dict).command or "")
    assert settings[settings.index("--settings") + 1] == f"{public}/claude-hooks.json"  # readable inside
    unbounded = org.model_copy(update={"isolation": Isolation.NONE})
    assert agent_launch(unbounded, claude, dict) == program_launch(unbounded, claude, dict)


@needs_bwrap
def test_tmux_socket_folders_are_hidden_even_before_any_server_made_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tmux server started after an agent must not put its socket where the agent sees it."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("TMUX_TMPDIR", str(tmp_path / "tmux-tmp"))
    (tmp_path / "tmux-tmp").mkdir()
    later = tmp_path / "tmux-tmp" / f"tmux-{os.getuid()}"
    org = Org(name="o", teams=(Team(name="t"),), agents=(Agent(name="s", team="t", cwd=tmp_path),))
    words = shlex.split(agent_launch(org, org.agents[0], dict).command or "")
    hidden = {words[i + 1] for i, word in enumerate(words) if word == "--tmpfs"}
    assert {str(later), f"/tmp/tmux-{os.getuid()}"} <= hidden  # this console's servers' folder and the default
    assert later.is_dir() and stat.S_IMODE(later.stat().st_mode) == 0o700


# --- the choice, and saying so --------------------------------------------------------------------------------


def with_isolation(served: Served, setting: str) -> None:
    served.spec.write_text(served.spec.read_text().replace('name = "crew"', f'name = "crew"\nisolation = "{setting}"'))


def test_without_a_boundary_the_console_says_so_and_it_is_true(unserved: Served, tmp_path: Path) -> None:
    with_isolation(unserved, "none")
    unserved.start()
    bob = unserved.agents()["bob"]["pid"]
    out = run_in(unserved, "ann", f"tr '\\0' '\\n' < /proc/{bob}/environ | grep -c TOKEN=", tmp_path / "o")
    assert out.splitlines()[0] == "1", out  # as the warning says: ann can read what bob was given
    stopped = unserved.stop()
    assert stopped is not None
    warning = [line for line in stopped.stderr.splitlines() if "agents can act as you" in line]
    assert warning == [
        'warning: agents can act as you: the org sets isolation = "none" — remove it to run agents in a boundary'
    ], stopped.stderr
    up = unserved.cli("up", str(unserved.spec), "--socket-name", unserved.socket, "--size", "200x60")
    assert up.returncode == 0 and "warning: agents can act as you" in up.stderr, up.stderr


@needs_bwrap
def test_agents_started_outside_the_boundary_are_named_at_start(unserved: Served) -> None:
    spec = unserved.spec.read_text()
    with_isolation(unserved, "none")
    up = unserved.cli("up", str(unserved.spec), "--socket-name", unserved.socket, "--size", "200x60")
    assert up.returncode == 0, up.stderr
    unserved.spec.write_text(spec)  # auto again: the running agents stay as they were started
    unserved.start()
    stopped = unserved.stop()
    assert stopped is not None
    assert (
        "ann, bob, cat run outside the isolation boundary (started before it, or by an older `agent-console up`): "
        "they can act as you until restarted" in stopped.stderr
    ), stopped.stderr


def _path_without_bwrap(tmp_path: Path) -> str:
    """A PATH with tmux and nothing else: no bubblewrap."""
    folder = tmp_path / "bin"
    folder.mkdir()
    tmux_program = shutil.which("tmux")
    assert tmux_program is not None
    (folder / "tmux").symlink_to(tmux_program)
    return str(folder)


def test_a_required_boundary_that_cannot_be_had_stops_the_start_saying_how_to_fix_it(
    unserved: Served, tmp_path: Path
) -> None:
    with_isolation(unserved, "bwrap")
    unserved.env["PATH"] = _path_without_bwrap(tmp_path)
    for verb in ("up", "serve"):
        done = unserved.cli(verb, str(unserved.spec), "--socket-name", unserved.socket, "--size", "200x60")
        assert done.returncode == 1, done
        assert done.stderr.strip() == (
            'agent-console: error: the org requires isolation = "bwrap", but bubblewrap (bwrap) is not installed — '
            "install bubblewrap: apt-get install bubblewrap (dnf/pacman: bubblewrap); "
            'or set isolation = "auto" to start without a boundary (with a warning)'
        ), done.stderr
    assert tmux(unserved.socket, "list-panes", "-a") == ""  # nothing was started


def test_auto_without_bubblewrap_warns_and_starts(unserved: Served, tmp_path: Path) -> None:
    unserved.env["PATH"] = _path_without_bwrap(tmp_path) + os.pathsep + str(Path(sys.executable).parent)
    up = unserved.cli("up", str(unserved.spec), "--socket-name", unserved.socket, "--size", "200x60")
    assert up.returncode == 0, up.stderr
    assert (
        "warning: agents can act as you: bubblewrap (bwrap) is not installed — install bubblewrap: "
        "apt-get install bubblewrap" in up.stderr
    ), up.stderr


@needs_bwrap
def test_a_pid_namespace_check_tells_the_two_apart() -> None:
    """The helper the tests rely on: a process in bubblewrap is in another namespace, a plain one is not."""
    inside = subprocess.Popen(["bwrap", "--dev-bind", "/", "/", "--unshare-pid", "--proc", "/proc", "sleep", "30"])
    outside = subprocess.Popen(["sh", "-c", "sleep 30"])
    try:
        wait_for(lambda: runs_in_own_pid_namespace(inside.pid), 10, "bwrap's child")
        wait_for(lambda: descendants(outside.pid) or None, 10, "sh's child")
        assert not runs_in_own_pid_namespace(outside.pid)
        assert pid_namespace(inside.pid) == pid_namespace(os.getpid())  # bwrap itself stays here, with its env
    finally:
        for process in (inside, outside):
            process.kill()
            process.wait()


@pytest.mark.parametrize("setting", ["none", "auto"])
async def test_the_console_says_under_its_title_when_agents_can_act_as_you(
    setting: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textual.widgets import Static

    from agent_console.runtime.supervisor import Supervisor
    from agent_console.terminal.tmux import TmuxBackend
    from agent_console.tui.app import ConsoleApp

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    supervisor = Supervisor(Org(name="o", isolation=Isolation(setting)), TmuxBackend("ac-test-unused"), (120, 40))
    app = ConsoleApp(supervisor, start_supervisor=False)  # its backend is never started
    try:
        async with app.run_test(size=(120, 40)):
            banner = app.query_one("#exposure", Static)
            shown = str(banner.render())
            if setting == "none" or shutil.which("bwrap") is None:
                assert shown.startswith("⚠ agents can act as you: ") and banner.region.height == 1, shown
                assert banner.region.y == 1  # right under the title
            else:
                assert shown == "" and banner.region.height == 0
    finally:
        supervisor.journal.close()
