"""The model executive against stub model servers on 127.0.0.1 (Anthropic Messages and OpenAI chat completions,
both streamed): the team scene on a real tmux, a kill handed to the human and denied, provider errors and
timeouts, Escape stopping a streamed reply, the settings, and the tools generated from the command registry."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input

from agent_console.agents import roles
from agent_console.agents.errors import Unavailable
from agent_console.agents.events import EXECUTIVE, CommandRan
from agent_console.agents.model import Agent, Org, Team
from agent_console.agents.roles import NO
from agent_console.agents.spec import dump_spec, load_spec
from agent_console.runtime.commands import Actor, Command
from agent_console.runtime.model_executive import SUMMARY_CHARS, ModelExecutive
from agent_console.runtime.model_settings import HOW_TO, Disabled, Enabled, ExecutiveSettings, SettingsError, resolve
from agent_console.runtime.models import provider_for
from agent_console.runtime.supervisor import Supervisor
from agent_console.terminal.tmux import BORDER_OPTION, TmuxBackend
from agent_console.themes.palette import team_color
from agent_console.tui.app import ConsoleApp
from agent_console.widgets.chat import ChatPanel

from .conftest import tmux
from .stub_models.anthropic import AnthropicStub
from .stub_models.openai import OpenAIStub
from .test_widgets import Host, fill_chat

KEY = "sk-test-executive-key-0123456789abcdef"
PROVIDERS = ("anthropic", "openai")


class Stub:
    """One scripted model server of either API: `tool` (one call a turn), `say`, `fail`, `hold`."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.anthropic = AnthropicStub(main_tool="status") if provider == "anthropic" else None
        self.openai = OpenAIStub() if provider == "openai" else None

    async def __aenter__(self) -> Stub:
        await (self.anthropic or self.openai).start()  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await (self.anthropic or self.openai).stop()  # type: ignore[union-attr]

    @property
    def url(self) -> str:
        return self.anthropic.url if self.anthropic else self.openai.url  # type: ignore[union-attr]

    def tool(self, name: str, arguments: dict[str, Any]) -> None:
        if self.anthropic:
            self.anthropic.use_tool(name, arguments)
        else:
            self.openai.call_tool(name, arguments)  # type: ignore[union-attr]

    def say(self, text: str, stall: bool = False) -> None:
        (self.anthropic or self.openai).say(text, stall=stall)  # type: ignore[union-attr]

    def fail(self, status: int, message: str) -> None:
        if self.anthropic:
            self.anthropic.fail(status, "api_error" if status >= 500 else "invalid_request_error", message)
        else:
            self.openai.fail(status, message)  # type: ignore[union-attr]

    def hold(self) -> None:
        (self.anthropic or self.openai).hold()  # type: ignore[union-attr]

    def release(self) -> None:
        (self.anthropic or self.openai).release()  # type: ignore[union-attr]

    def bodies(self) -> list[dict]:
        if self.anthropic:
            return [r.body for r in self.anthropic.main_requests()]
        return self.openai.conversation()  # type: ignore[union-attr]

    def headers(self) -> list[dict[str, str]]:
        if self.anthropic:
            return [r.headers for r in self.anthropic.main_requests()]
        return [r["headers"] for r in self.openai.requests if r.get("scripted")]  # type: ignore[union-attr]

    def settings(self, **extra: Any) -> ExecutiveSettings:
        return ExecutiveSettings(provider=self.provider, model="stub-model", base_url=self.url, **extra)


class Lines:
    def __init__(self) -> None:
        self.text: list[str] = []
        self.notes: list[str] = []

    def reply(self, piece: str) -> None:
        self.text.append(piece)

    def note(self, text: str) -> None:
        self.notes.append(text)


@pytest.fixture
async def served(tmux_socket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Supervisor]:
    """A running org on a private tmux: one team, two shells (ann, bob)."""
    runtime = tempfile.mkdtemp(prefix="acmx", dir="/tmp")
    monkeypatch.setenv("XDG_RUNTIME_DIR", runtime)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    shell = "bash --norc --noprofile"
    org = Org(
        name="crew",
        teams=(Team(name="ops"),),
        agents=(Agent(name="ann", team="ops", command=shell, cwd=tmp_path),),
    )
    running = Supervisor(org, TmuxBackend(tmux_socket, "crew", config_file="/dev/null"), (160, 48))
    await running.start()
    yield running
    await running.stop()
    await running.backend.close()


@pytest.fixture
def idle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Supervisor]:
    """A supervisor never started (no tmux): enough for conversations that only read or journal."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    org = Org(name="crew", teams=(Team(name="ops"),), agents=(Agent(name="ann", team="ops"),))
    supervisor = Supervisor(org, TmuxBackend("ac-test-unused"), (120, 40))
    yield supervisor
    supervisor.journal.close()


# --- the team scene -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_create_a_team_lays_out_its_agents_in_the_team_colour(
    provider: str, served: Supervisor, tmux_socket: str
) -> None:
    socket = tmux_socket
    supervisor = served
    async with Stub(provider) as stub:
        stub.tool("team", {"action": "new", "name": "api"})
        for name in ("backend", "frontend", "testing", "database"):
            stub.tool("spawn", {"name": name, "team": "api", "command": "bash --norc --noprofile"})
        stub.say("The api team is up: backend, frontend, testing and database.")
        model = ModelExecutive(supervisor, provider_for(stub.settings(), KEY), stub.settings())
        lines = Lines()
        try:
            answer = await model.converse("Create a team to build the new API", lines)
        finally:
            await model.provider.close()
        bodies, headers = stub.bodies(), stub.headers()
    assert answer == "The api team is up: backend, frontend, testing and database."
    org = supervisor.org
    assert [team.name for team in org.teams] == ["ops", "api"]
    new = {"backend", "frontend", "testing", "database"}
    assert {agent.name for agent in org.agents if agent.team == "api"} == new
    colour = team_color(1, None)
    panes = tmux(socket, "list-panes", "-a", "-F", f"#{{@agent_console_agent}} #{{{BORDER_OPTION}}}")
    borders = dict(line.split(" ", 1) for line in panes.splitlines() if line.split(" ", 1)[0] in new)
    assert borders == dict.fromkeys(new, colour)
    # every command ran as the executive, journaled in the one trace of the exchange
    ran = [r for r in supervisor.recent_records() if isinstance(r.event, CommandRan) and r.actor == EXECUTIVE]
    assert [r.event.name for r in ran] == ["team", "spawn", "spawn", "spawn", "spawn"]
    assert all(r.event.ok and r.event.via == "chat" for r in ran)
    assert len({r.trace for r in ran}) == 1
    assert lines.notes[0] == "plan: team new api"
    assert lines.notes[1].startswith("team new api → team api created")
    # the model saw the org each turn, and the tools; approving is never one of them; the key went in a header only
    assert "ann ops shell worker" in str(bodies[0])
    names = {tool.get("name") or tool["function"]["name"] for tool in bodies[0]["tools"]}
    assert {"spawn", "team", "kill", "send", "read_screen", "explain_agent", "read_journal"} <= names
    assert not names & {"approve", "deny", "approve-always", "approve-identical"}
    assert any(KEY in value for value in headers[0].values())
    assert KEY not in supervisor.journal_path.read_text()


# --- the hand-off to the human ------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_kill_the_model_asks_for_waits_for_the_human_and_once_denied_kills_nothing(
    provider: str, served: Supervisor
) -> None:
    supervisor = served
    async with Stub(provider) as stub:
        stub.tool("kill", {"name": "ann"})
        stub.say("I asked you to approve killing ann.")
        model = ModelExecutive(supervisor, provider_for(stub.settings(), KEY), stub.settings())
        lines = Lines()
        try:
            await model.converse("ann is stuck, kill it", lines)
        finally:
            await model.provider.close()
        results = str(stub.bodies()[1])
    assert lines.notes[0] == "plan: kill ann (asks you first)"
    [pending] = supervisor.state.approvals.values()
    assert (pending.agent, pending.command) == (EXECUTIVE, "kill ann")
    assert lines.notes[1] == f"kill ann → waits for your approval (request {pending.id}): y runs it, n does not"
    assert pending.text == "the executive asks to run: kill ann (you asked: ann is stuck, kill it)"
    assert "filed in the human's approval queue" in results
    assert "ann" in {agent.name for agent in supervisor.org.agents}  # nothing killed yet
    registry = supervisor.commands
    deny = registry.find("deny")
    assert await registry.run(supervisor, deny, registry.parse(deny, [pending.id]), Actor.human("key")) == (
        "denied executive: kill ann"
    )
    assert "ann" in {agent.name for agent in supervisor.org.agents}
    assert supervisor.pane_of("ann")
    kills = [r for r in supervisor.recent_records() if isinstance(r.event, CommandRan) and r.event.name == "kill"]
    assert kills == []


async def test_an_approved_kill_runs_as_the_executive_and_says_what_it_did(served: Supervisor) -> None:
    supervisor = served
    async with Stub("openai") as stub:
        stub.tool("kill", {"name": "@ann"})
        stub.say("Waiting for you.")
        model = ModelExecutive(supervisor, provider_for(stub.settings(), None), stub.settings())
        await model.converse("kill ann", Lines())
        await model.provider.close()
    [pending] = supervisor.state.approvals.values()
    registry = supervisor.commands
    approve = registry.find("approve")
    said = await registry.run(supervisor, approve, registry.parse(approve, [pending.id]), Actor.human("key"))
    assert said.startswith("approved executive: kill @ann — killed ann and closed its pane")
    assert "ann" not in {agent.name for agent in supervisor.org.agents}
    [kill] = [r for r in supervisor.recent_records() if isinstance(r.event, CommandRan) and r.event.name == "kill"]
    assert (kill.actor, kill.event.ok) == (EXECUTIVE, True)


async def test_the_org_spec_can_make_any_command_ask_first(idle: Supervisor) -> None:
    async with Stub("anthropic") as stub:
        stub.tool("barrier", {"name": "ship", "count": 2})
        stub.say("Asked.")
        settings = stub.settings(ask=("barrier",))
        model = ModelExecutive(idle, provider_for(settings, KEY), settings)
        lines = Lines()
        await model.converse("set up a barrier ship for two", lines)
        await model.provider.close()
    assert lines.notes[0] == "plan: barrier ship --count 2 (asks you first)"
    [pending] = idle.state.approvals.values()
    assert pending.command == "barrier ship --count 2"
    assert "ship" not in idle.state.barriers


# --- failures -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_provider_error_is_one_clear_line(provider: str, idle: Supervisor) -> None:
    async with Stub(provider) as stub:
        stub.fail(401, "invalid x-api-key")
        model = ModelExecutive(idle, provider_for(stub.settings(), KEY), stub.settings())
        with pytest.raises(Unavailable) as raised:
            await model.converse("how are things?", Lines())
        await model.provider.close()
    message = str(raised.value)
    assert message.startswith(f"the model ({provider} model stub-model at {stub.url}) answered HTTP 401: ")
    assert "invalid x-api-key" in message and "\n" not in message and KEY not in message
    assert model.messages == []  # the failed exchange is forgotten: the next one starts clean


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_server_error_is_retried_and_then_answered(provider: str, idle: Supervisor) -> None:
    async with Stub(provider) as stub:
        stub.fail(503, "overloaded")
        stub.say("All quiet.")
        model = ModelExecutive(idle, provider_for(stub.settings(), KEY), stub.settings())
        assert await model.converse("how are things?", Lines()) == "All quiet."
        await model.provider.close()
        assert len(stub.bodies()) == 2


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_model_that_does_not_answer_times_out_with_a_clear_line(provider: str, idle: Supervisor) -> None:
    async with Stub(provider) as stub:
        stub.hold()
        settings = stub.settings(timeout=0.5, retries=0)
        model = ModelExecutive(idle, provider_for(settings, KEY), settings)
        with pytest.raises(
            Unavailable, match=r"did not answer within 0\.5s: try again, or raise \[executive\] timeout"
        ):
            await model.converse("hello?", Lines())
        await model.provider.close()
        stub.release()


# --- the chat: streaming, Escape ----------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_escape_stops_a_streaming_reply_and_the_builtin_executive_still_answers(
    provider: str, idle: Supervisor, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Stub(provider) as stub:
        monkeypatch.setenv("AGENT_CONSOLE_EXECUTIVE_PROVIDER", provider)
        monkeypatch.setenv("AGENT_CONSOLE_EXECUTIVE_MODEL", "stub-model")
        monkeypatch.setenv("AGENT_CONSOLE_EXECUTIVE_BASE_URL", stub.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY" if provider == "anthropic" else "OPENAI_API_KEY", KEY)
        stub.say("Let me look at every agent in turn, starting with ann, then the others, one by one.", stall=True)
        app = ConsoleApp(idle, start_supervisor=False)
        async with app.run_test(size=(120, 40)) as pilot:
            chat = app.query_one(ChatPanel)
            assert f"console: Plain English goes to {provider} model stub-model" in said(chat)
            chat.focus_input()
            chat.query_one(Input).value = "what is everyone doing?"
            await pilot.press("enter")
            for _ in range(200):
                await pilot.pause(0.02)
                if chat.reply_text:
                    break
            assert chat.streaming and chat.reply_text.startswith("Let me look")
            assert "starting with ann, then" not in chat.reply_text  # held halfway by the stub
            await pilot.press("escape")
            for _ in range(100):
                await pilot.pause(0.02)
                if not chat.streaming:
                    break
            log = said(chat)
            assert not chat.streaming
            assert "[stopped]" in log and "console: stopped (Esc): the model's reply was cancelled" in log
            chat.focus_input()
            chat.query_one(Input).value = "/status"  # the built-in executive's: never needs the model
            await pilot.press("enter")
            await pilot.pause()
            assert "you: /status executive: 0 agents: no agents; 0 pending approval(s)" in said(chat)
        stub.release()


def said(chat: ChatPanel) -> str:
    """The chat log as one text, its wrapped lines joined and runs of spaces made one."""
    return " ".join(" ".join(chat.log_lines).split())


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_provider_error_is_one_chat_line_and_the_chat_goes_on(
    provider: str, idle: Supervisor, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Stub(provider) as stub:
        monkeypatch.setenv("AGENT_CONSOLE_EXECUTIVE_PROVIDER", provider)
        monkeypatch.setenv("AGENT_CONSOLE_EXECUTIVE_MODEL", "stub-model")
        monkeypatch.setenv("AGENT_CONSOLE_EXECUTIVE_BASE_URL", stub.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY" if provider == "anthropic" else "OPENAI_API_KEY", KEY)
        stub.fail(400, "model 'stub-model' does not exist")
        stub.say("Back again.")
        app = ConsoleApp(idle, start_supervisor=False)
        async with app.run_test(size=(120, 40)) as pilot:
            chat = app.query_one(ChatPanel)
            for text, answer in (("hello?", "still answers @agent, #team and /commands."), ("again?", "Back again.")):
                chat.focus_input()
                chat.query_one(Input).value = text
                await pilot.press("enter")
                for _ in range(200):
                    await pilot.pause(0.02)
                    if said(chat).endswith(answer):
                        break
                assert said(chat).endswith(answer)
            shown = said(chat)
    assert (
        f"console: the model ({provider} model stub-model at {stub.url}) answered HTTP 400: " in shown
        and "model 'stub-model' does not exist" in shown
    )
    assert shown.count("console: the model") == 1


# --- settings -----------------------------------------------------------------------------------------------------


def test_without_settings_the_builtin_executive_says_how_to_enable_the_model(tmp_path: Path) -> None:
    assert resolve(None, {"HOME": str(tmp_path)}) == Disabled(HOW_TO)


def test_settings_come_from_the_user_file_then_the_spec_then_the_environment(tmp_path: Path) -> None:
    user = tmp_path / "config" / "agent-console" / "settings.toml"
    user.parent.mkdir(parents=True)
    user.write_text('[executive]\nprovider = "anthropic"\nmodel = "claude-user"\ntimeout = 30\n')
    spec = tmp_path / "org.toml"
    spec.write_text('[org]\nname = "x"\n[executive]\nmodel = "claude-spec"\nask = ["merge"]\n')
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "ANTHROPIC_API_KEY": KEY}
    found = resolve(spec, env)
    assert isinstance(found, Enabled)
    assert (found.settings.model, found.settings.timeout, found.settings.ask, found.key) == (
        "claude-spec",
        30,
        ("merge",),
        KEY,
    )
    env |= {
        "AGENT_CONSOLE_EXECUTIVE_PROVIDER": "openai",
        "AGENT_CONSOLE_EXECUTIVE_BASE_URL": "http://127.0.0.1:11434/v1",
    }
    local = resolve(spec, env)
    assert isinstance(local, Enabled) and local.key is None and local.settings.provider == "openai"


def test_no_key_leaves_the_model_off_naming_the_variable(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "AGENT_CONSOLE_EXECUTIVE_PROVIDER": "openai", "AGENT_CONSOLE_EXECUTIVE_MODEL": "m"}
    found = resolve(None, env)
    assert isinstance(found, Disabled)
    assert "no API key in $OPENAI_API_KEY" in found.why


def test_a_key_file_open_to_others_is_refused_saying_so(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o644)
    env = {
        "HOME": str(tmp_path),
        "AGENT_CONSOLE_EXECUTIVE_PROVIDER": "anthropic",
        "AGENT_CONSOLE_EXECUTIVE_MODEL": "m",
        "AGENT_CONSOLE_EXECUTIVE_API_KEY_FILE": str(key_file),
    }
    with pytest.raises(SettingsError, match=r"is open to others \(mode 0644\).*chmod 600"):
        resolve(None, env)
    key_file.chmod(0o600)
    found = resolve(None, env)
    assert isinstance(found, Enabled) and found.key == KEY


def test_a_wrong_setting_names_where_it_is(tmp_path: Path) -> None:
    spec = tmp_path / "org.toml"
    spec.write_text('[org]\nname = "x"\n[executive]\nprovider = "gemini"\n')
    with pytest.raises(SettingsError, match=rf"^{spec}: \[executive\] provider: "):
        resolve(spec, {"HOME": str(tmp_path)})


# --- tools and the state summary ----------------------------------------------------------------------------------


async def test_the_tools_are_whatever_commands_exist_that_the_executive_may_run(
    idle: Supervisor, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = ExecutiveSettings(provider="openai", model="m", base_url="http://127.0.0.1:9/v1")
    model = ModelExecutive(idle, provider_for(settings, None), settings)
    names = {tool.name for tool in model.tools()}
    registry_names = {command.name for command in idle.commands}
    assert {"status", "spawn", "kill", "merge"} <= names
    assert names - {"read_screen", "explain_agent", "read_journal"} <= registry_names
    assert not names & {"approve", "deny", "approve-always", "approve-identical"}

    async def hello(host: Any, args: Any, actor: Actor) -> str:
        return "hi"

    idle.commands.register(Command("hello", "say hi", hello))  # as another part of the console adds its own
    monkeypatch.setitem(roles.COMMANDS, "hello", roles.Row(roles.ALL, roles.ALL, NO, NO, NO, "a test's command"))
    assert "hello" in {tool.name for tool in model.tools()}


def test_the_state_summary_of_a_big_org_stays_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    teams = tuple(Team(name=f"team{n}") for n in range(10))
    agents = tuple(Agent(name=f"agent-{n:03d}", team=f"team{n % 10}") for n in range(400))
    supervisor = Supervisor(Org(name="big", teams=teams, agents=agents), TmuxBackend("ac-test-unused"), (120, 40))
    try:
        settings = ExecutiveSettings(provider="openai", model="m", base_url="http://127.0.0.1:9/v1")
        summary = ModelExecutive(supervisor, provider_for(settings, None), settings).summary()
    finally:
        supervisor.journal.close()
    assert len(summary) <= SUMMARY_CHARS
    assert summary.endswith("more (status, read_journal)")
    assert "agent-000 team0 shell worker" in summary


def test_the_spec_keeps_its_executive_table_when_the_org_is_saved_over_it(tmp_path: Path) -> None:
    spec = tmp_path / "org.toml"
    spec.write_text('[org]\nname = "x"\n\n[[team]]\nname = "ops"\n\n[executive]\nmodel = "m"\nask = ["merge"]\n')
    org = load_spec(spec)
    spec.write_text(dump_spec(org.replaced(teams=(*org.teams, Team(name="api"))), spec))
    assert [team.name for team in load_spec(spec).teams] == ["ops", "api"]
    found = resolve(spec, {"HOME": str(tmp_path), "AGENT_CONSOLE_EXECUTIVE_PROVIDER": "openai"})
    assert isinstance(found, Disabled) and "model m" in found.why  # read back: no key for it here


async def test_a_change_made_while_the_org_starts_waits_for_it_each_agent_in_one_pane(
    tmux_socket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The executive may act at once, while the console still lays the org out: never an agent started twice."""
    runtime = tempfile.mkdtemp(prefix="acmr", dir="/tmp")
    monkeypatch.setenv("XDG_RUNTIME_DIR", runtime)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    org = Org(
        name="race",
        teams=(Team(name="ops"),),
        agents=(Agent(name="ann", team="ops", command="bash --norc --noprofile", cwd=tmp_path),),
    )
    supervisor = Supervisor(org, TmuxBackend(tmux_socket, "race", config_file="/dev/null"), (200, 50))
    try:
        bigger = org.replaced(teams=(*org.teams, Team(name="api")))
        await asyncio.gather(supervisor.start(), supervisor.reconfigure(bigger))
        rows = tmux(tmux_socket, "list-panes", "-a", "-F", "#{@agent_console_agent}").split()
        assert sorted(rows) == ["ann", "exec"]
    finally:
        await supervisor.stop()
        await supervisor.backend.close()


async def test_a_server_that_cannot_be_reached_is_retried_then_named(idle: Supervisor) -> None:
    async with Stub("openai") as stub:
        url = stub.url  # a port nobody listens on once the stub has stopped
    settings = ExecutiveSettings(provider="openai", model="m", base_url=url, retries=1)
    model = ModelExecutive(idle, provider_for(settings, KEY), settings)
    with pytest.raises(Unavailable, match=rf"^cannot reach the model \(openai model m at {url}\): "):
        await model.converse("hello?", Lines())
    await model.provider.close()


async def test_without_a_model_the_chat_says_how_to_enable_it_and_a_wrong_setting_says_where(
    idle: Supervisor, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = ConsoleApp(idle, start_supervisor=False)
    async with app.run_test(size=(120, 40)) as pilot:
        chat = app.query_one(ChatPanel)
        assert "Plain English" not in said(chat) and "model executive" not in said(chat)  # nothing said unasked
        chat.focus_input()
        chat.query_one(Input).value = "create a team to build the new API"
        await pilot.press("enter")
        await pilot.pause()
        assert said(chat).endswith(" ".join(HOW_TO.split()))
    monkeypatch.setenv("AGENT_CONSOLE_EXECUTIVE_PROVIDER", "gemini")
    app = ConsoleApp(idle, start_supervisor=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert (
            "console: The model executive is off: AGENT_CONSOLE_EXECUTIVE_PROVIDER: [executive] provider: "
            "Input should be 'anthropic' or 'openai'" in said(app.query_one(ChatPanel))
        )


def stream_a_reply(app: Host) -> None:
    fill_chat(app)
    chat = app.query_one(ChatPanel)
    chat.add_line("you", "Create a team to build the new API")
    chat.add_line("console", "plan: team new api")
    chat.add_line("console", "team new api → team api created")
    chat.begin_reply("executive (claude-sonnet)")
    chat.stream("The api team is there; next I will spawn backend, frontend,\x1b[2J testing")


def test_snapshot_chat_with_a_reply_streaming_in(snap_compare: Any) -> None:
    """You should see the chat (frame titled "Chat"): the five lines of the widget snapshot (you, exec, you, exec,
    supervisor), then "you: Create a team to build the new API", two grey italic console lines ("plan: team new
    api", "team new api → team api created"), and below the log, above the input, the reply streaming in, in the
    executive's accent colour: "executive (claude-sonnet): The api team is there; next I will spawn backend,
    frontend,␛[2J testing" — the escape shown as its marker, never acted on."""
    assert snap_compare(Host(lambda: ChatPanel(id="chat"), ready=stream_a_reply), terminal_size=(80, 20))


async def test_a_command_running_when_the_reply_is_stopped_finishes_and_says_so(
    idle: Supervisor, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, go_on = asyncio.Event(), asyncio.Event()

    async def slow(host: Any, args: Any, actor: Actor) -> str:
        started.set()
        await go_on.wait()
        return "slow work done"

    idle.commands.register(Command("slow", "takes its time", slow))
    monkeypatch.setitem(roles.COMMANDS, "slow", roles.Row(roles.ALL, roles.ALL, NO, NO, NO, "a test's command"))
    async with Stub("anthropic") as stub:
        stub.tool("slow", {})
        model = ModelExecutive(idle, provider_for(stub.settings(), KEY), stub.settings())
        lines = Lines()
        exchange = asyncio.create_task(model.converse("do the slow thing", lines))
        await asyncio.wait_for(started.wait(), 10)
        exchange.cancel()  # Escape
        with pytest.raises(asyncio.CancelledError):
            await exchange
        assert lines.notes == ["plan: slow"]  # not cut halfway: still running
        go_on.set()
        for _ in range(100):
            await asyncio.sleep(0.01)
            if len(lines.notes) > 1:
                break
        await model.provider.close()
    assert lines.notes[1] == "slow → slow work done (finished after the reply was stopped)"
    ran = [r.event for r in idle.recent_records() if isinstance(r.event, CommandRan) and r.event.name == "slow"]
    assert [(event.ok, event.via) for event in ran] == [(True, "chat")]
    assert model.messages == []
