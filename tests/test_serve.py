"""`agent-console serve` end to end: real shells in a private tmux report through the real command line."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import tmux, wait_for, when

SPEC = """
[org]
name = "crew"

[[team]]
name = "core"

[[agent]]
name = "ann"
team = "core"
command = "bash --norc --noprofile"

[[agent]]
name = "bob"
team = "core"
command = "bash --norc --noprofile"

[[agent]]
name = "cat"
team = "core"
command = "bash --norc --noprofile"
"""


class Served:
    """A running `serve` and the means to act as its agents and its human."""

    def __init__(self, socket: str, root: Path, runtime: Path) -> None:
        self.socket = socket
        self.root = root
        self.spec = root / "crew.toml"
        self.spec.write_text(SPEC)
        self.env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
        self.env.update(
            XDG_RUNTIME_DIR=str(runtime),
            XDG_STATE_HOME=str(root / "state"),
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        )
        self.process: subprocess.Popen[str] | None = None

    def start(self, *extra: str) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agent_console.cli",
                "serve",
                str(self.spec),
                "--socket-name",
                self.socket,
                "--size",
                "200x60",
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
            cwd=self.root,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # "serving org …" once the API is up
        assert line.startswith("serving org 'crew'"), line + self.process.stderr.read()

    def stop(self, how: signal.Signals = signal.SIGTERM) -> subprocess.CompletedProcess | None:
        if self.process is None or self.process.poll() is not None:
            return None
        self.process.send_signal(how)
        out, err = self.process.communicate(timeout=15)
        self.process = None
        return subprocess.CompletedProcess([], 0, out, err)

    def cli(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "agent_console.cli", *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )

    def cli_as(self, agent: str, *args: str) -> subprocess.CompletedProcess[str]:
        """The command line run as `agent` would from its pane (its token and the socket in the environment)."""
        tokens = json.loads((self.root / "state" / "agent-console" / "crew" / "tokens.json").read_text())
        socket = Path(self.env["XDG_RUNTIME_DIR"]) / "agent-console" / "crew.sock"
        env = {
            **self.env,
            "AGENT_CONSOLE_AGENT": agent,
            "AGENT_CONSOLE_TOKEN": tokens[agent],
            "AGENT_CONSOLE_SOCKET": str(socket),
        }
        return subprocess.run(
            [sys.executable, "-m", "agent_console.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
            check=False,
        )

    def pane(self, agent: str) -> str:
        for line in tmux(self.socket, "list-panes", "-a", "-F", "#{pane_id} #{@agent_console_agent}").splitlines():
            pane, _, name = line.partition(" ")
            if name == agent:
                return pane
        raise KeyError(agent)

    def type_in(self, agent: str, command: str) -> None:
        """Type a command line into the agent's shell, as a human (or the agent) would."""
        tmux(self.socket, "send-keys", "-t", self.pane(agent), "-l", command)
        tmux(self.socket, "send-keys", "-t", self.pane(agent), "Enter")

    def agents(self) -> dict[str, dict]:
        result = self.cli("ls", "--json", "--socket-name", self.socket)
        assert result.returncode == 0, result.stderr
        return {row["name"]: row for row in json.loads(result.stdout)}


@contextlib.contextmanager
def serving(socket: str, root: Path, spec: str | None = None) -> Iterator[Served]:
    """`serve` on `spec` (this file's SPEC when None) until the block ends, then stopped and cleaned up."""
    runtime = Path(tempfile.mkdtemp(prefix="acrt", dir="/tmp"))  # short: unix socket paths are capped
    service = Served(socket, root, runtime)
    if spec is not None:
        service.spec.write_text(spec)
    try:
        service.start()
        yield service
    finally:
        service.stop()
        shutil.rmtree(runtime, ignore_errors=True)


@pytest.fixture
def served(tmux_socket: str, tmp_path: Path) -> Iterator[Served]:
    with serving(tmux_socket, tmp_path) as service:
        yield service


def read(path: Path) -> str | None:
    return path.read_text().strip() if path.exists() and path.read_text().strip() else None


def test_emit_status_shows_in_ls(served: Served) -> None:
    served.type_in("ann", "agent-console emit status working --task 'build the api' --progress 2/5")
    row = wait_for(lambda: when(served.agents()["ann"], lambda r: r["state"] == "working"), what="ann working")
    assert row["task"] == "build the api" and row["last_event"] is not None
    assert served.agents()["bob"]["state"] != "working"
    # The pane itself shows the state in its badge (it showed what its screen said before).
    badge = wait_for(
        lambda: when(
            tmux(served.socket, "show", "-pv", "-t", served.pane("ann"), "@badge").strip(),
            lambda value: value.endswith("working"),
        ),
        2,
        what="ann's badge saying working",
    )
    assert badge == "● working"


def test_pane_border_turns_to_the_state_colour_when_it_needs_attention(served: Served, tmp_path: Path) -> None:
    from agent_console.themes import state_color

    served.type_in("bob", f"agent-console ask 'ship it?' --timeout 30 > {tmp_path / 'bob'}")
    served.type_in("bob", "")  # nothing: the ask blocks the shell
    wait_for(lambda: json.loads(served.cli("approvals", "--json").stdout), what="bob's request")
    served.type_in("ann", "agent-console emit status waiting --task 'needs a review'")
    border = wait_for(
        lambda: when(
            tmux(served.socket, "show", "-pv", "-t", served.pane("ann"), "@agent_console_border").strip(),
            lambda value: value == state_color("waiting"),
        ),
        15,  # agent-console starting in the pane takes most of it on a busy machine
        what="ann's border in the waiting colour",
    )
    assert border == state_color("waiting")
    badge = tmux(served.socket, "show", "-pv", "-t", served.pane("bob"), "@badge").strip()
    assert "1 to approve" in badge


def test_escape_sequence_without_socket_is_accepted(served: Served) -> None:
    # No socket (as from a remote host through ssh): the command prints the escape sequence on the pane.
    served.type_in("bob", "AGENT_CONSOLE_SOCKET= agent-console emit status thinking --task offline-path")
    wait_for(lambda: served.agents()["bob"]["state"] == "thinking", what="bob thinking via the escape sequence")


def test_forged_sequence_from_cat_is_rejected_and_counted(served: Served, tmp_path: Path) -> None:
    payload = base64.b64encode(json.dumps({"v": 1, "type": "status", "state": "error"}).encode()).decode()
    hostile = tmp_path / "hostile.txt"
    hostile.write_text(f"innocent text\x1b]1337;Custom=id=forgedtoken0123456789:{payload}\x07more text\n")
    served.type_in("cat", f"cat {hostile}")
    human = served.cli("approvals", "--json")  # any human call proves the console is alive
    assert human.returncode == 0
    state = wait_for(lambda: when(_state(served), lambda s: s["spoofs"]["total"] >= 1), what="spoof counted")
    assert state["spoofs"]["by_agent"].get("cat", 0) >= 1
    assert served.agents()["cat"]["state"] != "error"


def test_ask_blocks_until_the_human_answers(served: Served, tmp_path: Path) -> None:
    out = tmp_path / "ask.out"
    served.type_in("ann", f"agent-console ask 'deploy to prod?' --command 'make deploy'; echo $? > {out}")
    pending = wait_for(lambda: json.loads(served.cli("approvals", "--json").stdout), what="the request")
    assert pending[0]["agent"] == "ann" and pending[0]["command"] == "make deploy"
    time.sleep(0.3)
    assert not out.exists()  # still blocked
    assert served.cli("approve", pending[0]["id"]).returncode == 0
    assert wait_for(lambda: read(out), what="ask to end") == "0"

    out.unlink()
    served.type_in("ann", f"agent-console ask 'drop the table?'; echo $? > {out}")
    pending = wait_for(lambda: json.loads(served.cli("approvals", "--json").stdout), what="the second request")
    assert served.cli("deny", pending[0]["id"], "--reason", "no").returncode == 0
    assert wait_for(lambda: read(out), what="ask to end") == "1"

    out.unlink()
    served.type_in("ann", f"agent-console ask 'anyone?' --timeout 1; echo $? > {out}")
    assert wait_for(lambda: read(out), what="ask to time out") == "2"
    assert json.loads(served.cli("approvals", "--json").stdout) == []  # a timed-out request is withdrawn


def test_three_agent_barrier(served: Served, tmp_path: Path) -> None:
    for name in ("ann", "bob"):
        served.type_in(name, f"agent-console barrier wait sync --count 3; echo $? > {tmp_path / name}")
    wait_for(lambda: len(_state(served)["barriers"].get("sync", {}).get("arrived", [])) == 2, what="two arrivals")
    time.sleep(0.3)
    assert not (tmp_path / "ann").exists() and not (tmp_path / "bob").exists()
    served.type_in("cat", f"agent-console barrier wait sync --count 3; echo $? > {tmp_path / 'cat'}")
    for name in ("ann", "bob", "cat"):
        assert wait_for(lambda n=name: read(tmp_path / n), what=f"{name} released") == "0"


def test_barrier_timeout_names_who_is_missing(served: Served, tmp_path: Path) -> None:
    for name in ("ann", "bob"):
        served.type_in(
            name,
            f"agent-console barrier wait meet --members ann,bob,cat --timeout 1 2> {tmp_path / name}.err;"
            f" echo $? > {tmp_path / name}",
        )
    for name in ("ann", "bob"):
        assert wait_for(lambda n=name: read(tmp_path / n), what=f"{name} timed out") == "2"
        assert "missing: cat" in (tmp_path / f"{name}.err").read_text()


def test_lock_of_a_killed_agent_passes_on(served: Served, tmp_path: Path) -> None:
    served.type_in("ann", f"agent-console lock acquire db --lease 300 > {tmp_path / 'ann'}")
    assert wait_for(lambda: read(tmp_path / "ann"), what="ann's lock") == "1"
    served.type_in("bob", f"agent-console lock acquire db --lease 300 > {tmp_path / 'bob'}")
    time.sleep(0.5)
    assert read(tmp_path / "bob") is None  # waiting
    ann_pid = int(tmux(served.socket, "display", "-p", "-t", served.pane("ann"), "#{pane_pid}").strip())
    os.kill(ann_pid, signal.SIGKILL)
    assert wait_for(lambda: read(tmp_path / "bob"), timeout=15, what="bob's lock") == "2"  # fencing token grew
    assert _state(served)["locks"]["db"]["holder"] == "bob"


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["killed", "stopped"])
def test_restart_keeps_pending_approvals(served: Served, tmp_path: Path, how: signal.Signals) -> None:
    out = tmp_path / "ask.out"
    served.type_in("bob", f"agent-console ask 'merge?'; echo $? > {out}")
    pending = wait_for(lambda: json.loads(served.cli("approvals", "--json").stdout), what="the request")
    served.stop(how)
    served.start()
    again = json.loads(served.cli("approvals", "--json").stdout)
    assert [item["id"] for item in again] == [pending[0]["id"]]
    assert served.cli("approve", pending[0]["id"]).returncode == 0
    assert wait_for(lambda: read(out), timeout=15, what="ask to end after the restart") == "0"
    assert set(served.agents()) == {"ann", "bob", "cat"}  # re-adopted, not duplicated


def test_audit_verify_and_replay(served: Served) -> None:
    served.type_in("ann", "agent-console emit status working --task audited")
    wait_for(lambda: served.agents()["ann"]["state"] == "working", what="ann working")
    served.stop()
    journal = served.root / "state" / "agent-console" / "crew" / "journal.jsonl"
    verified = served.cli("audit", "verify", str(journal))
    assert verified.returncode == 0 and "ok" in verified.stdout
    replayed = served.cli("replay", str(journal))
    assert replayed.returncode == 0
    assert json.loads(replayed.stdout)["agents"]["ann"]["task"] == "audited"
    lines = journal.read_text().splitlines()
    lines[1] = lines[1].replace('"crew"', '"evil"', 1) if '"crew"' in lines[1] else lines[1].replace("1", "2", 1)
    journal.write_text("\n".join(lines) + "\n")
    tampered = served.cli("audit", "verify", str(journal))
    assert tampered.returncode == 1 and "line 2" in tampered.stderr


def test_control_api_rejects_bad_requests(served: Served) -> None:
    import asyncio

    import aiohttp

    socket = Path(served.env["XDG_RUNTIME_DIR"]) / "agent-console" / "crew.sock"
    assert oct(socket.stat().st_mode & 0o777) == "0o600"
    tokens = json.loads((served.root / "state" / "agent-console" / "crew" / "tokens.json").read_text())
    human = (served.root / "state" / "agent-console" / "crew" / "human.token").read_text().strip()

    async def call(method: str, path: str, token: str | None, data: bytes | None = None) -> tuple[int, str]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with (
            aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(socket))) as session,
            session.request(method, f"http://x{path}", data=data, headers=headers) as response,
        ):
            return response.status, (await response.json())["error"] if response.status >= 400 else ""

    async def probe() -> list[tuple[int, str]]:
        ann = tokens["ann"]
        return [
            await call("GET", "/v1/state", None),
            await call("GET", "/v1/state", "not-a-token"),
            await call("POST", "/v1/events", ann, b"{not json"),
            await call("POST", "/v1/events", ann, b"x" * 70_000),
            await call(
                "POST", "/v1/events", ann, json.dumps({"v": 1, "type": "status", "state": "idle", "mood": 1}).encode()
            ),
            await call("POST", "/v1/events", ann, json.dumps({"v": 1, "type": "agent.exit", "agent": "bob"}).encode()),
            await call("POST", "/v1/events", human, json.dumps({"v": 1, "type": "heartbeat"}).encode()),
            await call("POST", "/v1/approvals/nope", ann, json.dumps({"approved": True}).encode()),
            await call("POST", "/v1/approvals/nope", human, json.dumps({"approved": True}).encode()),
            await call("POST", "/v1/votes/v1/cast", ann, json.dumps({"choice": "yes"}).encode()),
        ]

    answers = asyncio.run(probe())
    assert answers[0] == (401, "missing bearer token (Authorization: Bearer <token>)")
    assert answers[1][0] == 401 and "unknown token" in answers[1][1]
    assert answers[2][0] == 400 and "not JSON" in answers[2][1]
    assert answers[3][0] == 413
    assert answers[4][0] == 422 and "mood" in answers[4][1]
    assert answers[5] == (422, "event type 'agent.exit' cannot be sent by an agent")
    assert answers[6][0] == 403
    assert answers[7][0] == 403 and "human" in answers[7][1]
    assert answers[8] == (404, "no pending approval 'nope'")
    assert answers[9] == (409, "no open vote named 'v1'")


def _state(served: Served) -> dict:
    import asyncio

    from agent_console.runtime import paths
    from agent_console.runtime.client import ControlClient

    old = dict(os.environ)
    os.environ.update(served.env)
    try:
        client = ControlClient(paths.socket_path("crew"), paths.human_token("crew"))
        return asyncio.run(client.call("GET", "/v1/state", wait=5))
    finally:
        os.environ.clear()
        os.environ.update(old)


def test_messages_fan_out_wait_for_ack_and_answer_requests(served: Served, tmp_path: Path) -> None:
    served.type_in("ann", "agent-console send '#core' standup in five")
    outboxes = wait_for(lambda: when(_state(served)["outboxes"], lambda o: "bob" in o), what="fan-out")
    assert set(outboxes) == {"bob", "cat"}  # the team, less the sender
    served.type_in("bob", f"agent-console inbox --ack > {tmp_path / 'bob.inbox'}")
    line = wait_for(lambda: read(tmp_path / "bob.inbox"), what="bob's inbox")
    message = json.loads(line)
    assert message["from"] == "ann" and message["text"] == "standup in five"
    wait_for(lambda: "bob" not in _state(served)["outboxes"], what="bob's ack")
    assert "cat" in _state(served)["outboxes"]  # at least once: still there until cat acknowledges

    # Request and response: ann waits for bob's reply to her message.
    served.type_in(
        "ann", f"agent-console send @bob ping --wait 20 > {tmp_path / 'ann.reply'}; echo $? >> {tmp_path / 'ann.reply'}"
    )
    wait_for(lambda: any(m["text"] == "ping" for m in _outbox(served, "bob")), what="ping delivered")
    ping = next(m for m in _outbox(served, "bob") if m["text"] == "ping")
    served.type_in("bob", f"agent-console send @ann pong --reply-to {ping['id']}")
    reply = wait_for(lambda: when(read(tmp_path / "ann.reply") or "", lambda t: t.count("\n") == 1), what="reply")
    assert reply.splitlines() == ["pong", "0"]


def _outbox(served: Served, agent: str) -> list[dict]:
    state = _state(served)
    return [state["messages"][key] for key in state["outboxes"].get(agent, [])]


@pytest.fixture
def unserved(tmux_socket: str, tmp_path: Path) -> Iterator[Served]:
    """The same org and environment as `served`, with nothing started yet."""
    runtime = Path(tempfile.mkdtemp(prefix="acrt", dir="/tmp"))
    service = Served(tmux_socket, tmp_path, runtime)
    yield service
    service.stop()
    shutil.rmtree(runtime, ignore_errors=True)


def test_agents_started_by_up_can_ask_once_the_org_is_served(unserved: Served, tmp_path: Path) -> None:
    brought = unserved.cli("up", str(unserved.spec), "--socket-name", unserved.socket, "--size", "200x60")
    assert brought.returncode == 0, brought.stderr
    unserved.start()
    out = tmp_path / "ask.out"
    unserved.type_in("ann", f"agent-console ask 'ship it?' 2> {tmp_path / 'ask.err'}; echo $? > {out}")
    pending = wait_for(
        lambda: json.loads(unserved.cli("approvals", "--json").stdout) or read(out),
        what=f"ann's request (ask said: {read(tmp_path / 'ask.err')})",
    )
    assert isinstance(pending, list), read(tmp_path / "ask.err")
    assert unserved.cli("approve", pending[0]["id"]).returncode == 0
    assert wait_for(lambda: read(out), what="ask to end") == "0"
    assert set(unserved.agents()) == {"ann", "bob", "cat"}  # adopted, not started again


def test_a_socket_left_by_a_killed_console_is_not_an_org(served: Served) -> None:
    import socket

    # What a console killed with SIGKILL leaves: a socket file that nothing listens on.
    ghost = Path(served.env["XDG_RUNTIME_DIR"]) / "agent-console" / "ghost.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as left:
        left.bind(str(ghost))
    listed = served.cli("approvals")
    assert listed.returncode == 0, listed.stderr
    assert "several orgs" not in listed.stderr
    assert not ghost.exists()


def test_audit_verify_finds_the_key_of_a_journal_kept_elsewhere(unserved: Served, tmp_path: Path) -> None:
    elsewhere = tmp_path / "logs" / "crew-journal.jsonl"
    elsewhere.parent.mkdir()
    unserved.start("--journal", str(elsewhere))
    unserved.stop()
    verified = unserved.cli("audit", "verify", str(elsewhere))
    assert verified.returncode == 0, verified.stderr
    assert "chain and signatures intact" in verified.stdout
    replayed = unserved.cli("replay", str(elsewhere))
    assert replayed.returncode == 0, replayed.stderr
    assert set(json.loads(replayed.stdout)["agents"]) == {"ann", "bob", "cat"}


def test_ls_org_finds_a_served_org_on_its_own_tmux_socket(
    tmux_socket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    usual = Path(tempfile.mkdtemp(prefix="actm", dir="/tmp"))
    monkeypatch.setenv("TMUX_TMPDIR", str(usual))  # this test's "usual" tmux server is private too (and absent)
    runtime = Path(tempfile.mkdtemp(prefix="acrt", dir="/tmp"))
    service = Served(tmux_socket, tmp_path, runtime)
    service.start()
    try:
        listed = service.cli("ls", "--org", "crew", "--json")
        assert listed.returncode == 0, listed.stderr
        assert {row["name"] for row in json.loads(listed.stdout)} == {"ann", "bob", "cat"}
        table = service.cli("ls", "--org", "crew")
        assert "ann" in table.stdout and "bob" in table.stdout
    finally:
        service.stop()
        tmux(tmux_socket, "kill-server")  # now: its socket lives in the folder removed below
        shutil.rmtree(runtime, ignore_errors=True)
        shutil.rmtree(usual, ignore_errors=True)


# --- the org survives a restart: the console's changes are journaled and replayed -----------------------------


@pytest.fixture
def org_home(tmux_socket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """State, sockets and the console's own folder in temp dirs; agents' shells find `agent-console`."""
    runtime = Path(tempfile.mkdtemp(prefix="acor", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    shutil.rmtree(runtime, ignore_errors=True)


class Chat:
    """The console's commands over a supervisor, as the chat runs them (`/team new ops` → `team`)."""

    def __init__(self, supervisor) -> None:
        self.supervisor = supervisor

    async def __call__(self, line: str) -> str | None:
        from agent_console.runtime.commands import Actor

        return await self.supervisor.commands.run_line(self.supervisor, line.removeprefix("/"), Actor.human("chat"))


async def running(org, socket: str, spec: Path | None = None):
    from agent_console.runtime.supervisor import Supervisor
    from agent_console.terminal.tmux import TmuxBackend

    supervisor = Supervisor(org, TmuxBackend(socket, org.name, config_file="/dev/null"), (160, 48), spec=spec)
    report = await supervisor.start()
    return supervisor, report


async def stopped(supervisor) -> None:
    await supervisor.stop()
    await supervisor.backend.close()


SHELL = "bash --norc --noprofile"


async def test_an_org_built_in_the_chat_is_back_after_a_restart(org_home: Path, tmux_socket: str) -> None:
    from agent_console.agents.model import Org

    console, _ = await running(Org(name="console"), tmux_socket)
    chat = Chat(console)
    await chat("/team new ops")
    await chat(f"/spawn a --team ops --command '{SHELL}'")
    await chat(f"/spawn b --team ops --command '{SHELL}'")
    await chat("/kill b")
    pane = console.pane_of("a")
    await stopped(console)

    again, report = await running(Org(name="console"), tmux_socket)
    try:
        assert [team.name for team in again.org.teams] == ["ops"]
        assert [agent.name for agent in again.org.agents] == ["a"]
        assert report.adopted == ["a"] and not report.started and not report.orphans
        assert again.pane_of("a") == pane  # the same pane, its program never stopped
        assert again.notices == ["the org as you left it: team new ops; spawn a --team ops"]
    finally:
        await stopped(again)


async def test_save_writes_a_spec_that_loads_as_the_org_and_that_up_accepts(
    org_home: Path, tmux_socket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from agent_console.agents.model import Org
    from agent_console.agents.spec import load_spec
    from agent_console.cli.entry import main

    console, _ = await running(Org(name="console"), tmux_socket)
    chat = Chat(console)
    try:
        await chat("/team new ops")
        await chat("/team new db --parent ops")
        await chat(f"/spawn a --team ops --command '{SHELL}'")
        await chat(f"/spawn b --team db --kind shell --command '{SHELL} -i'")
        said = await chat(f"/save {org_home / 'saved.toml'}")
        assert said.startswith(f"saved the org to {org_home / 'saved.toml'}: 2 team(s), 2 agent(s)")
        assert load_spec(org_home / "saved.toml") == console.org
    finally:
        await stopped(console)
    other = f"{tmux_socket}-up"
    try:
        code = await asyncio.to_thread(main, ["up", str(org_home / "saved.toml"), "-L", other, "--size", "160x48"])
        out = capsys.readouterr().out
        assert code == 0, out
        assert "2 agent(s), 2 started" in out
        assert set(tmux(other, "list-panes", "-a", "-F", "#{@agent_console_agent}").split()) == {"exec", "a", "b"}
    finally:
        tmux(other, "kill-server")


async def test_changes_that_the_spec_file_took_over_are_said_once_and_dropped(org_home: Path, tmux_socket: str) -> None:
    from agent_console.agents.spec import load_spec

    spec = org_home / "crew.toml"
    spec.write_text(SPEC)
    console, _ = await running(load_spec(spec), tmux_socket, spec)
    chat = Chat(console)
    await chat(f"/spawn dan --team core --command '{SHELL}'")
    await chat("/kill cat")
    await stopped(console)

    # Meanwhile the user adds dan to the file themselves.
    spec.write_text(SPEC + f'\n[[agent]]\nname = "dan"\nteam = "core"\ncommand = "{SHELL}"\n')
    again, report = await running(load_spec(spec), tmux_socket, spec)
    try:
        assert [agent.name for agent in again.org.agents] == ["ann", "bob", "dan"]  # cat stays killed
        assert "dan" in report.adopted and not report.started  # the spawned pane is the file's dan now
        assert again.notices == [
            "the org as you left it: kill cat",
            "the spec changed, so these changes made in the console no longer apply and are dropped: "
            "spawn dan --team core (the spec has an agent 'dan' already)",
        ]
    finally:
        await stopped(again)
    third, _ = await running(load_spec(spec), tmux_socket, spec)
    try:
        assert third.notices == ["the org as you left it: kill cat"]
    finally:
        await stopped(third)


async def test_panes_outside_the_org_are_adopted_with_their_identity(org_home: Path, tmux_socket: str) -> None:
    from agent_console.agents.model import Org

    console, _ = await running(Org(name="console"), tmux_socket)
    chat = Chat(console)
    await chat("/team new ops")
    await chat(f"/spawn a --team ops --command '{SHELL}'")
    await chat(f"/spawn b --team ops --kind shell --command '{SHELL} -i'")
    panes = {name: console.pane_of(name) for name in ("a", "b")}
    await stopped(console)
    for name in ("journal.jsonl", "journal.anchor"):  # the org is forgotten (its journal and the anchor pinning it)
        (org_home / "state" / "agent-console" / "console" / name).unlink()

    again, report = await running(Org(name="console"), tmux_socket)
    try:
        assert sorted(report.orphans) == ["a", "b"] and not again.org.agents
        chat = Chat(again)
        with pytest.raises(Exception, match=r"adopt: no pane outside the org runs an agent 'zed' \(running: a, b\)"):
            await chat("/adopt zed")
        assert await chat("/adopt b") == "adopted b: back in the org (its program kept running)"
        assert again.org.agent("b").team == "ops" and again.org.agent("b").command == f"{SHELL} -i"
        assert again.pane_of("b") == panes["b"]
        assert list(await again.orphans()) == ["a"]  # still running, still offered
        assert await chat("/adopt all") == "adopted a: back in the org (its program kept running)"
        assert again.pane_of("a") == panes["a"]
    finally:
        await stopped(again)


async def test_agents_started_without_their_token_are_named_with_what_to_do(org_home: Path, tmux_socket: str) -> None:
    from agent_console.agents.spec import load_spec
    from agent_console.runtime.deployment import bring_up
    from agent_console.terminal.tmux import TmuxBackend

    spec = org_home / "crew.toml"
    spec.write_text(SPEC)
    org = load_spec(spec)
    backend = TmuxBackend(tmux_socket, org.name, config_file="/dev/null")
    await bring_up(org, backend, (160, 48))  # as `up` did before it gave tokens
    await backend.close()
    console, report = await running(org, tmux_socket, spec)
    try:
        assert sorted(report.adopted) == ["ann", "bob", "cat"]
        assert console.notices == [
            "ann, bob, cat started without this org's token (by an older `agent-console up`?): their "
            "`agent-console ask`, `emit` and hooks cannot reach the console. Restart them to give them one: "
            "`/restart NAME` in the console; under `serve`, end the program and start `serve` again"
        ]
        await console.restart_agent("bob")  # as /restart bob does
    finally:
        await stopped(console)
    again, _ = await running(org, tmux_socket, spec)
    try:
        assert again.notices[0].startswith("ann, cat started without this org's token")
    finally:
        await stopped(again)
