"""Self-healing: the pure decisions (conditions from evidence, the ladder, the breaker's arithmetic, the fold), then
the supervisor acting on them against the in-memory terminal (tests/fake_terminal.py): a crash restarted, a crash
loop stopped by the breaker, the human's pane and pending approvals holding every step, an outage restarting nobody,
a hang nudged with the kind's keys. The same against real programs is in tests/test_recovery_real.py."""

from __future__ import annotations

import json
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent_console.agents import recovery
from agent_console.agents.events import (
    HUMAN,
    SUPERVISOR,
    AgentExited,
    AgentLaunched,
    AgentState,
    BreakerChanged,
    ConditionDetected,
    Event,
    Heartbeat,
    MessageSent,
    OrgLoaded,
    RecoveryStep,
    StateObserved,
    StatusReported,
)
from agent_console.agents.journal import GENESIS, Record
from agent_console.agents.kinds import load_kind
from agent_console.agents.model import Agent, AgentKind, Org, Team
from agent_console.agents.recovery import RecoveryPolicy, Step
from agent_console.agents.state import AgentView, OrgState
from agent_console.runtime.commands import Actor
from agent_console.runtime.supervisor import Supervisor
from agent_console.widgets.health_table import HealthTable
from agent_console.widgets.org_tree import OrgTree

from .fake_terminal import FakeTerminal
from .test_supervisor import screen, until
from .test_widgets import T0, OrgBuilder, build_org, health_host, label_of, row_text, tree_host

# --- the pure decisions -------------------------------------------------------------------------------------------

POLICY = recovery.resolve(
    RecoveryPolicy(heartbeat_timeout=30, max_prompt_wait=60, error_loop=3, error_window=100, breaker_failures=2)
)


def view(**fields: object) -> AgentView:
    found = AgentView(name="bob", team="t", launches=1, alive=True, state=AgentState.WORKING)
    for name, value in fields.items():
        setattr(found, name, value)
    return found


def names(found: list[recovery.Finding]) -> list[str]:
    return [finding.condition for finding in found]


def test_a_process_that_ended_is_crashed_and_nothing_else() -> None:
    [finding] = recovery.conditions(
        view(alive=False, exit_signal=9, stalled_since=0.0, heartbeat=0.0), POLICY, 1000.0, 10, awaiting_since=0.0
    )
    assert (finding.condition, finding.evidence) == ("crashed", "the process ended (signal 9)")
    assert recovery.conditions(view(alive=False, launches=0), POLICY, 1000.0, 10, None) == []  # never launched


def test_hung_needs_working_and_a_stall_as_long_as_stuck_after() -> None:
    assert names(recovery.conditions(view(stalled_since=100.0), POLICY, 109.0, 10, None)) == []
    assert names(recovery.conditions(view(stalled_since=100.0), POLICY, 110.0, 10, None)) == ["hung"]
    idle = view(stalled_since=100.0, state=AgentState.IDLE)
    assert names(recovery.conditions(idle, POLICY, 500.0, 10, None)) == []


def test_only_an_agent_that_sent_heartbeats_can_go_silent() -> None:
    assert names(recovery.conditions(view(), POLICY, 10_000.0, 10, None)) == []
    assert names(recovery.conditions(view(heartbeat=100.0), POLICY, 129.0, 10, None)) == []
    [silent] = recovery.conditions(view(heartbeat=100.0), POLICY, 130.0, 10, None)
    assert (silent.condition, silent.evidence) == ("silent", "no heartbeat for 30s (it sent them before)")


def test_a_question_nobody_answers_is_unanswered_not_hung_and_no_step_but_page_applies() -> None:
    waiting = view(state=AgentState.WAITING, stalled_since=0.0)
    assert names(recovery.conditions(waiting, POLICY, 100.0, 10, awaiting_since=50.0)) == []
    assert names(recovery.conditions(waiting, POLICY, 110.0, 10, awaiting_since=50.0)) == ["unanswered"]
    for step in recovery.steps(("nudge", "wait 5", "restart", "new-pane")):
        assert not recovery.applicable(step, "unanswered")
        assert not recovery.applicable(step, "outage")
    assert recovery.applicable(Step("page"), "unanswered")


def test_an_error_loop_is_n_errors_within_the_window_while_in_error() -> None:
    looping = view(state=AgentState.ERROR, errors=[10.0, 50.0, 90.0])
    assert names(recovery.conditions(looping, POLICY, 100.0, 10, None)) == ["error-loop"]
    assert names(recovery.conditions(looping, POLICY, 111.0, 10, None)) == []  # the first fell out of the window
    looping.state = AgentState.IDLE
    assert names(recovery.conditions(looping, POLICY, 100.0, 10, None)) == []


def test_the_next_deadline_is_the_earliest_condition_still_to_come() -> None:
    found = view(heartbeat=100.0, stalled_since=95.0)
    assert recovery.next_deadline(found, POLICY, 10, awaiting_since=None, now=101.0) == 105.0
    assert recovery.next_deadline(found, POLICY, 10, awaiting_since=None, now=106.0) == 130.0
    assert recovery.next_deadline(view(alive=False, heartbeat=100.0), POLICY, 10, None, now=101.0) is None


def state_with(**agents: AgentView) -> OrgState:
    state = OrgState()
    state.agents = dict(agents)
    return state


def test_the_same_error_on_several_agents_of_one_provider_is_an_outage() -> None:
    def failing(rule: str) -> AgentView:
        return view(state=AgentState.ERROR, error_rule=rule)

    state = state_with(a=failing("api-error"), b=failing("api-error"), c=failing("api-error"), d=view())
    providers = {"a": "anthropic", "b": "anthropic", "c": "openai", "d": "anthropic"}
    out = recovery.outages(state, providers, threshold=2)
    assert sorted(out) == ["a", "b"]
    assert out["a"] == "anthropic: api-error on 2 agents"
    # one agent's own error, or different errors, are not an outage
    assert recovery.outages(state_with(a=failing("api-error"), b=failing("invalid-api-key")), providers, 2) == {}


def test_a_ladder_is_checked_when_read_and_parsed_into_steps() -> None:
    with pytest.raises(ValueError, match=r"ladder step 'reboot' is not one of: nudge, wait SECONDS"):
        RecoveryPolicy(ladder=("nudge", "reboot"))
    with pytest.raises(ValueError, match="ladder is empty"):
        RecoveryPolicy(ladder=())
    assert recovery.steps(("nudge", "wait 2.5", "restart", "page")) == [
        Step("nudge"),
        Step("wait", 2.5),
        Step("restart"),
        Step("page"),
    ]
    assert [recovery.applicable(step, "crashed") for step in recovery.steps(("nudge", "wait 1", "restart"))] == [
        False,
        False,
        True,
    ]


def test_an_agents_policy_overrides_its_kinds_which_overrides_the_defaults() -> None:
    claude = load_kind("claude").recovery
    assert claude.nudge == ("Escape",) and load_kind("aider").recovery.nudge == ("C-c",)
    resolved = recovery.resolve(claude, RecoveryPolicy(ladder=("restart", "page"), settle=1))
    assert (resolved.nudge, resolved.ladder, resolved.settle) == (("Escape",), ("restart", "page"), 1.0)
    assert resolved.breaker_failures == recovery.DEFAULTS.breaker_failures


def test_the_breaker_opens_at_k_failures_in_the_window_and_at_once_when_half_open() -> None:
    found = view(failures=[10.0])
    assert recovery.breaker_after_failure(found, POLICY, 20.0) is None
    found.failures.append(20.0)
    assert recovery.breaker_after_failure(found, POLICY, 20.0) == "open"
    assert recovery.breaker_after_failure(found, POLICY, 20.0 + POLICY.breaker_window + 11) is None  # old ones
    assert recovery.breaker_after_failure(view(breaker="half-open"), POLICY, 0.0) == "open"
    assert not recovery.breaker_allows(view(breaker="open"))
    assert recovery.breaker_allows(view(breaker="half-open"))
    assert recovery.breaker_after_success(view(breaker="half-open")) == "closed"
    assert recovery.breaker_after_success(view()) is None


def records(events: list[tuple[str, Event, float]]) -> list[Record]:
    return [
        Record(
            seq=seq,
            time=when,
            actor=actor,
            event=event,
            prev=GENESIS,
            trace=f"t{seq}",
            span=f"s{seq}",
            parent=None,
            hmac="",
        )
        for seq, (actor, event, when) in enumerate(events, 1)
    ]


HISTORY: list[tuple[str, Event, float]] = [
    (SUPERVISOR, OrgLoaded(name="o", teams={"t": None}, agents={"bob": "t"}), 1.0),
    (SUPERVISOR, AgentLaunched(agent="bob", pane="%1"), 2.0),
    ("bob", StatusReported(state=AgentState.WORKING, task="migrate the db"), 3.0),
    (HUMAN, MessageSent(id="m1", to="@bob", text="also the indexes"), 4.0),
    (SUPERVISOR, AgentExited(agent="bob", signal=9), 10.0),
    (SUPERVISOR, ConditionDetected(agent="bob", condition="crashed", evidence="the process ended (signal 9)"), 10.5),
    (SUPERVISOR, RecoveryStep(agent="bob", step=3, of=6, action="restart", outcome="trying"), 11.0),
    (SUPERVISOR, AgentLaunched(agent="bob", pane="%1"), 11.5),
    (SUPERVISOR, RecoveryStep(agent="bob", step=3, of=6, action="restart", outcome="failed"), 12.0),
    (SUPERVISOR, BreakerChanged(agent="bob", state="open", reason="2 failed recoveries"), 12.0),
    (SUPERVISOR, BreakerChanged(agent="bob", state="half-open", reason="cool-down over"), 20.0),
    (SUPERVISOR, RecoveryStep(agent="bob", step=4, of=6, action="restart", outcome="recovered"), 22.5),
    (SUPERVISOR, BreakerChanged(agent="bob", state="closed", reason="a recovery held"), 22.5),
]


def test_the_fold_keeps_condition_steps_breaker_and_mttr_and_a_restart_keeps_task_and_outbox() -> None:
    state = OrgState.replay(records(HISTORY[:10]))
    bob = state.agents["bob"]
    assert (bob.condition, bob.recovery, bob.breaker, bob.failures) == (
        "crashed",
        (3, 6, "restart", "failed"),
        "open",
        [12.0],
    )
    assert bob.task == "migrate the db" and [m["id"] for m in state.outbox("bob")] == ["m1"]  # survive the restart
    assert recovery.recovery_label(bob) == "breaker open"
    state = OrgState.replay(records(HISTORY))
    bob = state.agents["bob"]
    assert (bob.condition, bob.breaker, bob.failures, bob.mttr) == (None, "closed", [], 12.0)  # 22.5 - 10.5
    assert state.to_json()["agents"]["bob"]["recovery"] == {
        "step": 4,
        "of": 6,
        "action": "restart",
        "outcome": "recovered",
    }
    # replay gives the same state, however often
    assert json.dumps(OrgState.replay(records(HISTORY)).to_json()) == json.dumps(state.to_json())


def test_liveness_has_a_source_and_errors_are_counted_on_entering_error() -> None:
    events: list[tuple[str, Event, float]] = [
        *HISTORY[:2],
        ("bob", Heartbeat(), 3.0),
        (SUPERVISOR, StateObserved(agent="bob", state=AgentState.ERROR, source="screen", rule="api-error"), 4.0),
        (SUPERVISOR, StateObserved(agent="bob", state=AgentState.ERROR, source="screen", rule="api-error"), 5.0),
        (SUPERVISOR, StateObserved(agent="bob", state=AgentState.IDLE, source="screen", rule="input-box"), 6.0),
        (SUPERVISOR, StateObserved(agent="bob", state=AgentState.ERROR, source="screen", rule="api-error"), 7.0),
    ]
    bob = OrgState.replay(records(events)).agents["bob"]
    assert (bob.life, bob.errors, bob.error_rule) == (("screen", 7.0), [4.0, 7.0], "api-error")
    bob = OrgState.replay(records(events[:3])).agents["bob"]
    assert bob.life == ("heartbeat", 3.0)


def test_the_label_says_recovering_with_its_step_and_an_outage_as_the_providers() -> None:
    assert recovery.recovery_label(view(recovery=(2, 3, "wait 10s", "trying"))) == "🔄 recovering (step 2/3)"
    assert recovery.recovery_label(view(recovery=(2, 3, "wait 10s", "recovered"))) is None
    assert recovery.recovery_label(view(outage="anthropic: api-error on 2 agents")) == "error (provider)"


# --- the supervisor acting, on the in-memory terminal ------------------------------------------------------------

FAST = RecoveryPolicy(
    ladder=("nudge", "wait 0.5", "restart", "restart", "new-pane", "page"),
    settle=0.5,
    breaker_failures=2,
    breaker_window=600,
    breaker_cooldown=600,
)


async def started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, agents: tuple[Agent, ...]) -> Supervisor:
    runtime = tempfile.mkdtemp(prefix="acrc", dir="/tmp")
    monkeypatch.setenv("XDG_RUNTIME_DIR", runtime)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    org = Org(name="heal", teams=(Team(name="t"),), agents=agents)
    supervisor = Supervisor(org, FakeTerminal(), (160, 48))  # type: ignore[arg-type]  # what callers use of a backend
    await supervisor.start()
    return supervisor


@pytest.fixture
async def shells(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Supervisor]:
    agents = tuple(
        Agent(name=name, team="t", command="bash --norc", cwd=tmp_path, recovery=FAST) for name in ("ann", "bob")
    )
    supervisor = await started(tmp_path, monkeypatch, agents)
    yield supervisor
    await supervisor.stop()


def fake(supervisor: Supervisor) -> FakeTerminal:
    assert isinstance(supervisor.backend, FakeTerminal)
    return supervisor.backend


def steps_of(supervisor: Supervisor, agent: str) -> list[tuple[str, str]]:
    return [
        (record.event.action, record.event.outcome)
        for record in supervisor.recent_records()
        if isinstance(record.event, RecoveryStep) and record.event.agent == agent
    ]


def journaled(supervisor: Supervisor, kind: type[Event]) -> list[Event]:
    return [record.event for record in supervisor.recent_records() if isinstance(record.event, kind)]


async def test_a_crashed_agent_is_restarted_in_its_pane_once_and_keeps_its_outbox(shells: Supervisor) -> None:
    supervisor = shells
    await supervisor.commands.run_line(supervisor, "send @bob keep going", Actor.human("line"))
    pane = fake(supervisor).pane_of("bob")
    fake(supervisor).exit(pane.pane, status=None, signal=9)
    await until(lambda: steps_of(supervisor, "bob")[-1:] == [("restart", "recovered")], "bob to be restarted")
    assert pane.launches == 2 and pane.alive
    assert steps_of(supervisor, "bob") == [("restart", "trying"), ("restart", "recovered")]  # nudge, wait: skipped
    [found] = journaled(supervisor, ConditionDetected)
    assert isinstance(found, ConditionDetected)
    assert (found.agent, found.condition, found.evidence) == ("bob", "crashed", "the process ended (signal 9)")
    bob = supervisor.state.agents["bob"]
    assert [m["text"] for m in supervisor.state.outbox("bob")] == ["keep going"]
    assert bob.mttr is not None and bob.condition is None and bob.breaker == "closed"
    assert supervisor.state.agents["ann"].launches == 1  # nobody else touched


async def test_a_crash_loop_stops_at_the_breaker_with_no_more_than_k_restarts(shells: Supervisor) -> None:
    supervisor = shells
    terminal = fake(supervisor)
    pane = terminal.pane_of("bob")
    respawn = terminal.respawn_pane

    async def crashes_at_start(target: str, launch: object) -> None:
        await respawn(target, launch)  # type: ignore[arg-type]
        terminal.exit(target, status=127)

    terminal.respawn_pane = crashes_at_start  # type: ignore[method-assign]
    terminal.exit(pane.pane, status=127)
    await until(lambda: supervisor.state.agents["bob"].breaker == "open", "the breaker to open")
    await until(lambda: steps_of(supervisor, "bob")[-1:] == [("page", "paged")], "the human to be paged")
    assert pane.launches - 1 == FAST.breaker_failures  # K restarts, then no more
    [opened] = journaled(supervisor, BreakerChanged)
    assert isinstance(opened, BreakerChanged)
    assert (opened.type, opened.agent, opened.state) == ("breaker", "bob", "open")
    assert opened.reason.startswith("2 failed recoveries within 600s")
    assert ("new-pane", "stopped") in steps_of(supervisor, "bob")
    assert recovery.recovery_label(supervisor.state.agents["bob"]) == "breaker open"
    await until(lambda: terminal.pages, "the page for the open breaker")
    assert terminal.pages[0].startswith("heal: bob's circuit breaker is open: 2 failed recoveries")
    # the human closes it: one more ladder, by the same rules
    said = await supervisor.commands.run_line(supervisor, "breaker reset bob", Actor.human("line"))
    assert said == "closed bob's breaker: automatic recovery is back on for it"
    await until(lambda: supervisor.state.agents["bob"].breaker == "open", "the breaker to open again")
    assert pane.launches - 1 == 2 * FAST.breaker_failures


async def test_no_step_acts_while_the_human_is_in_the_agents_pane(shells: Supervisor) -> None:
    supervisor = shells
    terminal = fake(supervisor)
    pane = terminal.pane_of("bob")
    terminal.focus(pane.pane)
    await until(lambda: supervisor.human_at() == {"bob"}, "the focus to be known")
    terminal.exit(pane.pane, signal=9)
    await until(lambda: ("restart", "held") in steps_of(supervisor, "bob"), "the restart to be held")
    assert pane.launches == 1
    assert recovery.health_row(supervisor.state, "bob", 0.0)["recovery"]["outcome"] == "held"
    terminal.focus(terminal.pane_of("ann").pane)  # the human leaves
    await until(lambda: steps_of(supervisor, "bob")[-1:] == [("restart", "recovered")], "bob to be restarted")
    assert pane.launches == 2


async def test_an_agent_waiting_for_an_approval_is_never_restarted(shells: Supervisor) -> None:
    supervisor = shells
    request = supervisor.request_approval("bob", "drop the table?", "psql -c 'drop table t'")
    terminal = fake(supervisor)
    pane = terminal.pane_of("bob")
    terminal.exit(pane.pane, signal=9)
    await until(lambda: ("restart", "held") in steps_of(supervisor, "bob"), "the restart to be held")
    assert pane.launches == 1
    await supervisor.decide(request, approved=False, reason=None)
    await until(lambda: steps_of(supervisor, "bob")[-1:] == [("restart", "recovered")], "bob to be restarted")


@pytest.fixture
async def claudes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Supervisor]:
    agents = tuple(
        Agent(name=name, team="t", kind=AgentKind.CLAUDE, cwd=tmp_path, stuck_after=1, recovery=FAST)
        for name in ("ann", "bob", "cy")
    )
    supervisor = await started(tmp_path, monkeypatch, agents)
    yield supervisor
    await supervisor.stop()


async def test_an_outage_marks_the_agents_error_provider_and_restarts_none(claudes: Supervisor) -> None:
    supervisor = claudes
    terminal = fake(supervisor)
    for name in ("ann", "bob"):
        terminal.show(terminal.pane_of(name).pane, screen("error-api"))
    await until(lambda: all(supervisor.state.agents[name].outage for name in ("ann", "bob")), "the outage to be seen")
    for name in ("ann", "bob"):
        assert recovery.recovery_label(supervisor.state.agents[name]) == "error (provider)"
        assert steps_of(supervisor, name) == []
    assert [pane.launches for pane in terminal.panes.values() if pane.identity.get("agent") != "exec"] == [1, 1, 1]
    assert supervisor.state.agents["cy"].outage is None
    # the provider is back: the condition is over
    terminal.show(terminal.pane_of("ann").pane, screen("idle-done"))
    await until(lambda: supervisor.state.agents["ann"].outage is None, "ann's outage to end")


async def test_a_hung_agent_is_nudged_with_its_kinds_interrupt_key(claudes: Supervisor) -> None:
    supervisor = claudes
    terminal = fake(supervisor)
    pane = terminal.pane_of("cy")
    terminal.show(pane.pane, screen("working-thinking"))
    await until(lambda: supervisor.state.agents["cy"].condition == "hung", "cy to be found hung", timeout=15)
    await until(lambda: ("nudge", "done") in steps_of(supervisor, "cy"), "cy to be nudged")
    assert pane.keys[:1] == ["Escape"]
    terminal.show(pane.pane, screen("idle-interrupted"))  # the nudge worked: it is back at its prompt
    await until(lambda: ("nudge", "recovered") in steps_of(supervisor, "cy"), "cy to recover")
    assert pane.launches == 1


async def test_health_says_each_agents_liveness_and_recover_runs_the_ladder_by_hand(shells: Supervisor) -> None:
    supervisor = shells
    said = await supervisor.commands.run_line(supervisor, "health bob", Actor.human("line"))
    assert said.startswith("bob: ") and "last proof of life: process, " in said and "breaker closed" in said
    data = json.loads(await supervisor.commands.run_line(supervisor, "health --as-json", Actor.human("line")))
    assert [row["agent"] for row in data] == ["ann", "bob"]
    assert data[0]["life"]["source"] == "process"
    said = await supervisor.commands.run_line(supervisor, "recover ann", Actor.human("line"))
    assert said.startswith("recovering ann: nudge, wait 0.5")
    await until(lambda: steps_of(supervisor, "ann")[-1:] == [("nudge", "recovered")], "the nudge to be taken")
    assert fake(supervisor).pane_of("ann").keys == ["C-c"]


# --- what the health table shows -----------------------------------------------------------------------------------


def troubled_org() -> OrgBuilder:
    """The widgets' eight agents, four of them in trouble: deploy recovering (step 2/6), monitor recovered by a
    restart in 5s, docs crashed with its breaker open, ui hung with its nudge held (the human is in its pane)."""
    org = build_org()
    trouble: list[tuple[Event, float]] = [
        (ConditionDetected(agent="deploy", condition="error-loop", evidence="5 errors in 300s"), T0 + 301),
        (RecoveryStep(agent="deploy", step=2, of=6, action="wait 10s", outcome="trying"), T0 + 302),
        (ConditionDetected(agent="monitor", condition="crashed", evidence="the process ended (status 1)"), T0 + 400),
        (RecoveryStep(agent="monitor", step=3, of=6, action="restart", outcome="recovered"), T0 + 405),
        (ConditionDetected(agent="docs", condition="crashed", evidence="the process ended (status 0)"), T0 + 101),
        (BreakerChanged(agent="docs", state="open", reason="3 failed recoveries within 600s"), T0 + 110),
        (RecoveryStep(agent="docs", step=6, of=6, action="page", outcome="paged"), T0 + 110),
        (ConditionDetected(agent="ui", condition="hung", evidence="working, screen unchanged for 120s"), T0 + 595),
        (RecoveryStep(agent="ui", step=1, of=6, action="nudge", outcome="held"), T0 + 596),
    ]
    for event, at in trouble:
        org.do(SUPERVISOR, event, at=at)
    return org


async def test_the_health_table_gains_recovery_columns_once_an_agent_is_in_trouble() -> None:
    calm = build_org()
    async with health_host(calm).run_test() as pilot:
        table = pilot.app.query_one(HealthTable)
        assert "recovery" not in [str(column.key.value) for column in table.ordered_columns]
    async with health_host(troubled_org()).run_test(size=(80, 16)) as pilot:
        await pilot.pause()
        table = pilot.app.query_one(HealthTable)
        keys = [str(column.key.value) for column in table.ordered_columns]
        assert keys[:3] == ["agent", "state", "recovery"]  # right after the state: a narrow pane keeps it
        assert row_text(table, "deploy")[1:3] == ["✖ error", "🔄 recovering (step 2/6)"]
        assert row_text(table, "docs")[2] == "breaker open"
        assert row_text(table, "ui")[2] == "🔄 held (step 1/6)"
        monitor = dict(zip(keys, row_text(table, "monitor"), strict=True))
        assert (monitor["recovery"], monitor["outcome"], monitor["mttr"]) == ("", "restart: recovered", "5s")
        assert monitor["alive"] == "start 3m"  # launched again at T0 + 401, read at NOW = T0 + 600


def test_snapshot_health_table_with_recovery(snap_compare: Any) -> None:
    """You should see the health table with a Recovery column right after State: deploy "🔄 recovering (step 2/6)",
    docs (offline) "breaker open", ui "🔄 held (step 1/6)", the others empty; then Last, Pending, Restarts, then
    Alive (the source and age of the last proof of life: "report 20s" for db, like its Last; "start 9m" for docs,
    dim; "start 3m" for monitor), Last recovery ("nudge: held", "page: paged", "wait 10s: trying",
    "restart: recovered") and MTTR (monitor 5s), then Task and Team (cut at the frame's edge)."""
    assert snap_compare(health_host(troubled_org()), terminal_size=(160, 14))


async def test_the_org_tree_shows_the_recovery_beside_the_agent() -> None:
    async with tree_host(troubled_org()).run_test() as pilot:
        await pilot.pause()
        tree = pilot.app.query_one(OrgTree)
        assert label_of(tree, "deploy").startswith("✖ deploy 🔄 recovering (step 2/6)  dep")  # the task cut after
        assert label_of(tree, "docs").startswith("· docs breaker open")
        assert "recovering" not in label_of(tree, "monitor").split("monitor", 1)[1]  # recovered: nothing added


def test_an_agents_recovery_in_the_spec_is_checked_naming_the_place_and_written_back(tmp_path: Path) -> None:
    from agent_console.agents.errors import InvalidInput
    from agent_console.agents.spec import dump_spec, load_spec

    spec = tmp_path / "org.toml"
    head = '[org]\nname = "heal"\n[[team]]\nname = "t"\n[[agent]]\nname = "a"\nteam = "t"\nkind = "claude"\n'
    spec.write_text(head + '[agent.recovery]\nladder = ["nudge", "reboot"]\n')
    with pytest.raises(InvalidInput, match=r'agent\[0\] \("a"\)\.recovery\.ladder: ladder step \'reboot\' is not one'):
        load_spec(spec)
    spec.write_text(head + '[agent.recovery]\nladder = ["nudge", "wait 30", "restart", "page"]\nsettle = 10\n')
    org = load_spec(spec)
    assert org.agents[0].recovery == RecoveryPolicy(ladder=("nudge", "wait 30", "restart", "page"), settle=10)
    spec.write_text(dump_spec(org, spec))
    assert load_spec(spec) == org


async def test_a_ladder_that_gives_up_pages_the_human(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ladder that only pages (a kind the console cannot heal): the crash reaches the human's terminal as a page."""
    paging_only = RecoveryPolicy(ladder=("page",))
    agents = (Agent(name="bob", team="t", command="bash --norc", cwd=tmp_path, recovery=paging_only),)
    supervisor = await started(tmp_path, monkeypatch, agents)
    try:
        terminal = fake(supervisor)
        pane = terminal.pane_of("bob")
        terminal.exit(pane.pane, status=3)
        await until(lambda: steps_of(supervisor, "bob") == [("page", "paged")], "the ladder's page step")
        await until(lambda: terminal.pages, "the page")
        assert terminal.pages == ["heal: bob was not recovered: the process ended (status 3)"]
        assert pane.launches == 1  # nothing restarted
    finally:
        await supervisor.stop()
