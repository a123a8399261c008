"""Every start of an agent's program after its first resumes its conversation: the kind's `[resume]` table says
how, the session id its hook reported (journaled as `agent.session`) says which. Hostile ids never reach a
command line. After the terminal server is gone, a new console starts every agent again resuming it, withdraws
the questions the old programs asked, releases their locks and types their undelivered messages again.
The real programs doing so are in tests/test_real_resume.py."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent_console.agents.events import (
    HUMAN,
    SUPERVISOR,
    AgentLaunched,
    AgentSession,
    Event,
    LockRequested,
    MessageSent,
    MessageTyped,
    OrgLoaded,
)
from agent_console.agents.journal import GENESIS, Record
from agent_console.agents.kinds import KindError, load_kind, load_kind_file
from agent_console.agents.kinds.hooks import read_claude_hook, read_codex_notify
from agent_console.agents.model import Agent, AgentKind, Org, Team
from agent_console.agents.state import OrgState
from agent_console.runtime.deployment import program_launch
from agent_console.runtime.resume import Resumption, journaled_resumer, journaled_state, resumption
from agent_console.runtime.supervisor import Supervisor

from .fake_terminal import FakeTerminal
from .test_supervisor import until

SESSION = "d8f5ce14-80a9-4efb-a0e7-53ab2b56b67a"
HOOKS = Path(__file__).parent / "fixtures" / "hooks"
HOSTILE = [
    "--dangerously-skip-permissions",
    "-p",
    "$(touch /tmp/pwned)",
    "`id`",
    "a b",
    "x;rm -rf ~",
    "d8f5ce14-80a9-4efb-a0e7-53ab2b56b67a --settings /tmp/evil.json",
    "d8f5ce14-80a9-4efb-a0e7-53ab2b56b67a\n",
    "'",
    "",
    "a" * 200,
]


def hook(name: str, **changes: object) -> dict:
    return {**json.loads((HOOKS / "claude" / f"{name}.json").read_text()), **changes}


# --- the kinds' data -----------------------------------------------------------------------------------------


def test_each_kind_says_how_it_resumes() -> None:
    claude, aider, codex = load_kind("claude").resume, load_kind("aider").resume, load_kind("codex").resume
    assert claude.arguments(SESSION) == (("--resume", SESSION), f"session {SESSION}")
    assert claude.arguments(None) is None  # --continue exits 1 when there is nothing to continue
    assert codex.arguments(SESSION) == (("resume", SESSION), f"session {SESSION}")
    assert codex.arguments(None) == (("resume", "--last"), "its last conversation in its folder")
    assert load_kind("gemini").resume.arguments(None) == (("--resume", "latest"), "its last conversation in its folder")
    assert aider.arguments(None) == (("--restore-chat-history",), "its last conversation in its folder")
    assert load_kind("shell").resume.arguments(SESSION) is None


@pytest.mark.parametrize("session", HOSTILE)
def test_a_hostile_session_id_is_never_an_argument(session: str) -> None:
    claude, aider = load_kind("claude").resume, load_kind("aider").resume
    assert not claude.accepts(session)
    assert claude.arguments(session) is None
    assert aider.arguments(session) == (("--restore-chat-history",), "its last conversation in its folder")


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ('session = ["--resume"]', "session needs {session} as exactly one whole argument"),
        ('session = ["--resume={session}"]', "session needs {session} as exactly one whole argument"),
        ('last = ["--resume", "{session}"]', "last cannot name a session"),
        ("pattern = '('", "pattern is not a valid regular expression"),
        ("sesion = []", "sesion"),
    ],
)
def test_a_wrong_resume_table_is_named_with_its_file_and_field(tmp_path: Path, table: str, problem: str) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(f'kind = "mine"\n[resume]\n{table}\n')
    with pytest.raises(KindError) as error:
        load_kind_file(path)
    assert str(path) in str(error.value) and "resume" in str(error.value) and problem in str(error.value)


# --- the command line -----------------------------------------------------------------------------------------


def _org(tmp_path: Path, kind: AgentKind = AgentKind.CLAUDE, command: str | None = None) -> Org:
    return Org(
        name="res",
        teams=(Team(name="t"),),
        agents=(
            Agent(name="ann", team="t", kind=kind, cwd=tmp_path, command=command),
            Agent(name="sh", team="t", kind=AgentKind.SHELL, cwd=tmp_path),
        ),
    )


def test_the_session_is_one_quoted_word_at_the_end_of_the_command(tmp_path: Path) -> None:
    org = _org(tmp_path, command="claude --model 'sonnet 4'")
    resume = Resumption(("--resume", SESSION), "session")
    command = program_launch(org, org.agent("ann"), resume=resume).command
    assert command is not None
    assert shlex.split(command) == ["claude", "--model", "sonnet 4", "--resume", SESSION]


def _apply(state: OrgState, event: Event) -> None:
    seq = len(state.agents) + 1
    record = Record(
        seq=seq, time=float(seq), trace="t", span="s", parent=None, actor=SUPERVISOR, event=event, prev=GENESIS, hmac=""
    )
    state.apply(record)


def test_only_an_agent_launched_before_resumes_and_only_a_session_its_kind_accepts(tmp_path: Path) -> None:
    org = _org(tmp_path)
    state = OrgState()
    _apply(state, OrgLoaded(name="res", teams={"t": None}, agents={"ann": "t", "sh": "t"}, order=("t", "ann", "sh")))
    assert resumption(org.agent("ann"), state) is None  # a first start: nothing to go back to
    _apply(state, AgentLaunched(agent="ann", pane="%1"))
    assert resumption(org.agent("ann"), state) is None  # claude: no session known, no --continue
    _apply(state, AgentSession(agent="ann", session=SESSION, source="hook"))
    assert resumption(org.agent("ann"), state) == Resumption(("--resume", SESSION), f"session {SESSION}")
    assert resumption(org.agent("sh"), state) is None


@pytest.mark.parametrize("session", [s for s in HOSTILE if s])
def test_the_journal_refuses_a_session_event_that_could_be_an_option_or_code(session: str) -> None:
    with pytest.raises(ValueError):
        AgentSession(agent="ann", session=session, source="hook")


# --- hooks ------------------------------------------------------------------------------------------------------


def test_hooks_name_the_session_once_a_conversation_exists() -> None:
    assert read_claude_hook(hook("UserPromptSubmit")).session == SESSION
    assert read_claude_hook(hook("Stop")).session == SESSION
    assert read_claude_hook(hook("SessionStart")).session is None  # nothing on disk yet: --resume would fail
    notify = json.loads((HOOKS / "codex" / "notify.json").read_text())
    assert read_codex_notify(notify).session == "01a21578-8b7c-7782-ae4d-d3d2ef22f82f"


# --- the supervisor ---------------------------------------------------------------------------------------------


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="acrs", dir="/tmp"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path


@pytest.fixture
async def supervisor(places: Path) -> AsyncIterator[Supervisor]:
    running = Supervisor(_org(places), FakeTerminal(), (160, 48))  # type: ignore[arg-type]
    await running.start()
    yield running
    await running.stop()


def _launch_words(supervisor: Supervisor, agent: str) -> list[str]:
    """The agent's command as its shell gets it (inside the isolation boundary's `sh -c`, when there is one)."""
    assert isinstance(supervisor.backend, FakeTerminal)
    command = supervisor.backend.pane_of(agent).launch.command
    assert command is not None
    words = shlex.split(command)
    return shlex.split(words[-1]) if "-c" in words and words[words.index("-c") - 1].endswith("sh") else words


async def test_a_session_reported_by_the_hook_is_journaled_and_a_restart_resumes_it(supervisor: Supervisor) -> None:
    assert "--resume" not in _launch_words(supervisor, "ann")
    supervisor.hook("ann", "claude", hook("UserPromptSubmit"))
    supervisor.hook("ann", "claude", hook("Stop"))  # the same session: journaled once
    sessions = [r.event for r in supervisor.recent_records() if isinstance(r.event, AgentSession)]
    assert sessions == [AgentSession(agent="ann", session=SESSION, source="hook")]
    assert supervisor.state.agents["ann"].session == SESSION

    assert await supervisor.restart_agent("ann") == f"session {SESSION}"  # `restart` says so
    assert _launch_words(supervisor, "ann")[-2:] == ["--resume", SESSION]
    launched = [r.event for r in supervisor.recent_records() if isinstance(r.event, AgentLaunched)]
    assert launched[-1].resumed == f"session {SESSION}"
    assert await supervisor.restart_agent("sh") is None  # a shell has no conversation: it starts afresh
    assert supervisor.state.agents["sh"].launches == 2 and launched[-1].agent == "ann"


@pytest.mark.parametrize("session", HOSTILE)
async def test_a_hostile_session_from_a_hook_is_dropped_and_never_reaches_the_command_line(
    supervisor: Supervisor, session: str
) -> None:
    supervisor.hook("ann", "claude", hook("UserPromptSubmit", session_id=session))
    assert supervisor.state.agents["ann"].session is None
    assert not [r for r in supervisor.recent_records() if isinstance(r.event, AgentSession)]
    await supervisor.restart_agent("ann")
    words = _launch_words(supervisor, "ann")
    assert "--resume" not in words and not any(session and session in word for word in words[1:])


async def test_a_restart_withdraws_what_the_old_program_asked_and_releases_its_locks(supervisor: Supervisor) -> None:
    request = supervisor.request_approval("ann", "may I drop the table?", None)
    supervisor.handle("ann", LockRequested(name="db"))
    assert supervisor.state.locks["db"].holder == "ann"
    await supervisor.restart_agent("ann")
    assert request not in supervisor.state.approvals
    decided = supervisor.state.decided[request]
    assert not decided.approved and decided.by == SUPERVISOR and "withdrawn" in (decided.reason or "")
    assert supervisor.state.locks["db"].holder is None
    assert supervisor.state.agents["ann"].alive


async def test_after_the_terminal_server_is_gone_a_new_console_resumes_every_agent(places: Path) -> None:
    """The tmux server (or the machine) restarted: no pane is left. The console started again starts each agent
    in its place, resuming its session; the old programs' questions are withdrawn, their locks released, and a
    message typed into a program that is gone is typed again."""
    first = Supervisor(_org(places), FakeTerminal(), (160, 48))  # type: ignore[arg-type]
    await first.start()
    first.hook("ann", "claude", hook("Stop"))
    request = first.request_approval("ann", "may I push?", None)
    first.handle("ann", LockRequested(name="db"))
    first.submit(HUMAN, MessageSent(id="m1", to="@ann", text="carry on"))
    first.submit(SUPERVISOR, MessageTyped(id="m1", agent="ann"))
    await first.stop()  # the console ends with the server: nothing saw the programs go

    before = journaled_state("res")
    assert before is not None and before.agents["ann"].alive and before.agents["ann"].session == SESSION
    assert before.to_json()["agents"]["ann"]["session"] == SESSION  # the human's view of the state shows it
    resume_by_up = journaled_resumer("res")  # what `agent-console up` resumes with, without a console
    assert resume_by_up is not None and resume_by_up(_org(places).agent("ann")) == Resumption(
        ("--resume", SESSION), f"session {SESSION}"
    )

    again = Supervisor(_org(places), FakeTerminal(), (160, 48))  # type: ignore[arg-type]  # a new, empty server
    report = await again.start()
    try:
        assert sorted(report.started) == ["ann", "sh"]
        assert report.resumed == {"ann": f"session {SESSION}"}
        assert _launch_words(again, "ann")[-2:] == ["--resume", SESSION]
        assert "--resume" not in _launch_words(again, "sh")
        state = again.state
        assert not state.approvals and "withdrawn" in (state.decided[request].reason or "")
        assert state.locks["db"].holder is None
        assert state.typed_message("ann") is None and [m["id"] for m in state.outbox("ann")] == ["m1"]
        assert state.agents["ann"].alive and state.agents["ann"].launches == 2
        launched = [r.event for r in again.recent_records() if isinstance(r.event, AgentLaunched)][-2:]
        assert {event.agent: event.resumed for event in launched} == {"ann": f"session {SESSION}", "sh": None}
    finally:
        await again.stop()


# --- the screen ---------------------------------------------------------------------------------------------------

EXITED = (Path(__file__).parent / "fixtures" / "screens" / "claude" / "exited.txt").read_text(encoding="utf-8")


def test_claude_code_names_its_session_on_the_screen_it_leaves() -> None:
    found = load_kind("claude").resume.session_on(EXITED)
    assert found is not None and load_kind("claude").resume.accepts(found)


async def test_the_session_on_the_exit_screen_is_kept(supervisor: Supervisor) -> None:
    found = load_kind("claude").resume.session_on(EXITED)
    assert isinstance(supervisor.backend, FakeTerminal)
    supervisor.backend.show(supervisor.pane_of("ann"), EXITED)
    await until(lambda: supervisor.state.agents["ann"].session == found, "the session read off the screen")
    kept = [r.event for r in supervisor.recent_records() if isinstance(r.event, AgentSession)]
    assert kept == [AgentSession(agent="ann", session=found, source="screen")]


async def test_a_screen_that_names_a_hostile_session_is_not_kept(supervisor: Supervisor) -> None:
    """Whatever the agent prints is its own word: `claude --resume --settings=…` on its screen is no session."""
    assert isinstance(supervisor.backend, FakeTerminal)
    reads = supervisor.screens.reads
    forged = EXITED.replace(str(load_kind("claude").resume.session_on(EXITED)), "--settings=/tmp/evil.json")
    supervisor.backend.show(supervisor.pane_of("ann"), forged)
    await until(lambda: supervisor.screens.reads > reads, "the screen read")
    assert supervisor.state.agents["ann"].session is None
    await supervisor.restart_agent("ann")
    assert not any("evil" in word for word in _launch_words(supervisor, "ann"))


# --- `up`, without a console ----------------------------------------------------------------------------------------


async def test_up_after_the_server_is_gone_resumes_from_the_journal(places: Path, tmux_socket: str) -> None:
    """`agent-console up ORG.toml` on a new server starts an agent the org's journal has seen run with its kind's
    resume (aider: --restore-chat-history), and says so; one it has never seen starts afresh."""
    script = places / "fake-aider.sh"
    script.write_text(f'printf "%s\\n" "$@" > {places}/argv.$AGENT_CONSOLE_AGENT\nexec sleep 600\n')
    spec = places / "res.toml"
    spec.write_text(
        '[org]\nname = "res"\n\n[[team]]\nname = "t"\n\n'
        f'[[agent]]\nname = "ann"\nteam = "t"\nkind = "aider"\ncommand = "bash {script}"\ncwd = "{places}"\n\n'
        f'[[agent]]\nname = "new"\nteam = "t"\nkind = "aider"\ncommand = "bash {script}"\ncwd = "{places}"\n'
    )
    org = Org(
        name="res",
        teams=(Team(name="t"),),
        agents=(Agent(name="ann", team="t", kind=AgentKind.AIDER, cwd=places, command=f"bash {script}"),),
    )
    earlier = Supervisor(org, FakeTerminal(), (160, 48))  # type: ignore[arg-type]  # ann ran before, on a server now gone
    await earlier.start()
    await earlier.stop()

    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    up = subprocess.run(
        [sys.executable, "-m", "agent_console.cli", "up", str(spec), "--socket-name", tmux_socket],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert up.returncode == 0, up.stderr
    assert "note: ann resumes its last conversation in its folder" in up.stdout
    assert "note: new resumes" not in up.stdout
    for name, expected in (("ann", ["--restore-chat-history"]), ("new", [""])):  # printf prints one line at least
        path = places / f"argv.{name}"
        await until(lambda path=path: path.exists() and path.read_text().endswith("\n"), f"{name}'s start")
        assert path.read_text().splitlines() == expected
