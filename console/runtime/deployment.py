"""Bring an org up in a terminal (create or re-adopt its panes, laid out as the plan says), list it, take it down.

Idempotent: the terminal's own pane options say which pane runs which agent, so running `up` again only
does what is missing — a new agent's pane, a dead agent's restart, a pane moved to the plan's window.
A buried agent has no place in the plan: its pane is kept off screen by the terminal (`TerminalBackend.bury`),
and stays there on every `up` until the spec unburies it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from agent_console.agents.kinds import load_kind
from agent_console.agents.layout import (
    EXEC_SHARE_PERCENT,
    MIN_PANE_COLS,
    LayoutPlan,
    WindowPlan,
    layout_cells,
    plan_from_data,
    plan_layout,
    plan_to_data,
)
from agent_console.agents.model import EXEC_SLOT, Agent, Org
from agent_console.runtime import isolation, paths, worktrees
from agent_console.runtime.agent_hooks import hook_arguments
from agent_console.runtime.resume import Resumer, Resumption
from agent_console.terminal.base import Launch, PaneInfo, PaneStyle, TerminalBackend
from agent_console.terminal.iterm2_layout import split_steps
from agent_console.terminal.tmux_control import TmuxCommandError
from agent_console.themes.palette import EXEC_COLOR, team_color


@dataclass
class UpReport:
    """What `up` did, agent by agent."""

    session: str
    created_session: bool = False
    started: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    buried: list[str] = field(default_factory=list)  # taken off screen by this `up`
    unburied: list[str] = field(default_factory=list)  # brought back to the layout by this `up`
    relaid: list[str] = field(default_factory=list)
    not_laid_out: dict[int, list[str]] = field(default_factory=dict)  # window → panes not in the plan
    missing: dict[str, str] = field(default_factory=dict)  # agent → its program, not found when it was started
    resumed: dict[str, str] = field(default_factory=dict)  # agent → how its program took up its conversation
    windows: int = 0

    @property
    def changed(self) -> bool:
        moves = self.moved or self.buried or self.unburied
        return bool(self.created_session or self.started or self.restarted or moves or self.removed or self.relaid)


@dataclass(frozen=True)
class AgentPane:
    """One agent as `ls` shows it."""

    org: str
    name: str
    team: str
    kind: str
    pane: str
    window: str
    pid: int | None
    command: str
    current_command: str
    alive: bool
    session: str
    buried: bool = False  # its pane is off screen (still running, still watched)

    def as_json(self) -> dict:
        return asdict(self)


ExtraEnv = Callable[[Agent], dict[str, str]]


def agent_launch(org: Org, agent: Agent, extra_env: ExtraEnv | None = None, resume: Resumption | None = None) -> Launch:
    """How the agent is started, every time (up, spawn, restart, respawn): its program as `program_launch`
    says, inside the org's isolation boundary (raises `IsolationError` when the org requires one that cannot
    be had here). An agent with a worktree starts in it (made on its first start, the same one after)."""
    launch = program_launch(org, agent, extra_env, resume)
    if org.uses_worktree(agent):
        tree = worktrees.ensure(org.name, agent.name, agent.cwd)
        launch = dataclasses.replace(launch, cwd=str(tree.cwd_for(agent.cwd)))
    return isolation.boundary(org.isolation).wrap(launch, keep=[paths.public_dir(org.name)])


def program_launch(
    org: Org, agent: Agent, extra_env: ExtraEnv | None = None, resume: Resumption | None = None
) -> Launch:
    """The agent's command with its kind's environment and arguments, hooks wired to the console (when it
    serves), and the arguments that resume its conversation (`resume`). All go by the agent's kind, so a command
    of the spec's own (a wrapper script that passes its arguments on) keeps them. Each added argument is quoted
    as one word: a session id reported by the agent never reaches the shell as code."""
    kind = load_kind(agent.kind.value)
    env = {
        "PATH": agent_path(),
        **kind.env,
        **agent.env,
        "AGENT_CONSOLE_ORG": org.name,
        "AGENT_CONSOLE_AGENT": agent.name,
    }
    command = agent.launch_command
    added = _missing_kind_arguments(kind.args, agent.command)
    if extra_env is not None:
        env.update(extra_env(agent))
        added += hook_arguments(kind, command, paths.public_dir(org.name))
    if resume is not None:
        added += resume.args
    if added:
        command = f"{command} {shlex.join(added)}"
    return Launch(command=command, cwd=str(agent.cwd), env=env)


def agent_path() -> str:
    """The PATH an agent's program gets: the console's own (not whatever the terminal server started with), with
    the folder of this `agent-console` at its end when no other is on it (a virtual environment's bin), so that
    `agent-console emit|ask|send` work in the pane; put last, it shadows nothing of the agent's."""
    path = os.environ.get("PATH", os.defpath)
    here = Path(sys.executable).parent
    if (here / "agent-console").exists() and shutil.which("agent-console", path=path) is None:
        path = f"{path}{os.pathsep}{here}" if path else str(here)
    return path


SHELL_COMMAND = "(shell)"  # the command pane option of an agent that runs the user's shell


def _missing_kind_arguments(args: tuple[str, ...], command: str | None) -> list[str]:
    """The kind's arguments (codex: --no-daemon) that the spec's own command does not give."""
    if command is None:
        return []  # the kind's program is run with its arguments already
    try:
        words = shlex.split(command)
    except ValueError:
        words = []
    return [arg for arg in args if arg not in words]


_SHELL_WORDS = frozenset({"exec", "command", "nohup"})  # each runs the word after it: that is the program


def missing_program(launch: Launch) -> str | None:
    """The program `launch` would start, when it cannot be found (on the PATH it gets, or at the path it
    names); None when it is found, or when the command is not a plain program call that can be checked."""
    try:
        words = shlex.split(launch.command or "")
    except ValueError:
        return None
    while words and (("=" in words[0] and not words[0].startswith("=")) or words[0] in _SHELL_WORDS):
        words.pop(0)  # VAR=value assignments and exec before the program
    if not words:
        return None
    program = words[0]
    if "/" in program:
        path = os.path.join(launch.cwd or ".", os.path.expanduser(program))
        return None if os.access(path, os.X_OK) else program
    search = launch.env.get("PATH", os.environ.get("PATH", os.defpath))
    if shutil.which(program, path=search) or _shell_builtin(program):
        return None
    return program


def _shell_builtin(word: str) -> bool:
    return word in {".", ":", "cd", "eval", "export", "set", "source", "trap", "ulimit", "umask", "{", "("}


def _meta(agent: Agent) -> dict[str, str]:
    return {"team": agent.team, "kind": agent.kind.value, "command": agent.launch_command or SHELL_COMMAND}


def _style(org: Org, slot: str) -> PaneStyle:
    if slot == EXEC_SLOT:
        return PaneStyle(border=EXEC_COLOR, title=f"{org.name} · executive")
    agent = org.agent(slot)
    index = [team.name for team in org.teams].index(agent.team)
    color = team_color(index, org.teams[index].color)
    role = "" if agent.role.value == "worker" else f" · {agent.role.value}"
    return PaneStyle(border=color, title=f"{agent.name} · {agent.team}{role}")


class _NotLaidOut(Exception):
    def __init__(self, window: int, strangers: list[str]) -> None:
        super().__init__(window, strangers)
        self.window = window
        self.strangers = strangers


Progress = Callable[[str], None]
PLAN_OPTION = "@agent_console_plan"


async def bring_up(
    org: Org,
    backend: TerminalBackend,
    size: tuple[int, int],
    remove_orphans: bool = False,
    progress: Progress | None = None,
    extra_env: ExtraEnv | None = None,
    exec_pane: str | None = None,
    exec_share: int = EXEC_SHARE_PERCENT,
    exec_min_width: int = MIN_PANE_COLS,
    resumer: Resumer | None = None,
) -> UpReport:
    """Make the backend's session hold exactly the org's agents, laid out as the plan says.

    With `exec_pane` (the console's own pane, inside tmux), the org is laid out in that pane's window;
    otherwise in a session named after the org, made when missing. `resumer` says how an agent started again
    (its pane dead, or gone with a terminal server that restarted) takes up its conversation.
    """
    say = progress or (lambda message: None)
    exec_launch = Launch(command=None, cwd=os.getcwd(), env={"AGENT_CONSOLE_ORG": org.name})
    if exec_pane is not None:
        await backend.attach_to_pane(exec_pane)
    else:
        await backend.attach_or_create(size, "exec", exec_launch)
    report = UpReport(session=backend.session or org.name, created_session=backend.created_session)

    panes = await _org_panes(backend, org.name)
    if exec_pane is not None and (EXEC_SLOT not in panes or panes[EXEC_SLOT].pane != exec_pane):
        await backend.set_identity(exec_pane, org.name, EXEC_SLOT)
        panes[EXEC_SLOT] = await backend.pane(exec_pane)
    exec_info = panes.get(EXEC_SLOT)
    if exec_info is None:
        exec_info = await _adopt_or_make_exec(backend, org, exec_launch)
        panes[EXEC_SLOT] = exec_info
    exec_pane_info = exec_info
    await backend.hold_window(exec_pane_info.window)
    launcher = _Launcher(org, extra_env, resumer, report)
    await _bury_or_unbury(org, backend, panes, report, say, launcher)
    plan_size = await backend.window_size(exec_pane_info.window)
    previous = await _previous_plan(backend)
    plan = plan_layout(org, plan_size, previous=previous, exec_share=exec_share, exec_min_width=exec_min_width)
    report.windows = len(plan.windows)
    window_ids = await _match_windows(backend, org.name, plan, panes, exec_pane_info.window)

    placer = _Placer(org, backend, panes, window_ids, report, say, launcher)
    for window in plan.windows:
        await placer.realise(window)

    for name, info in panes.items():
        if name != EXEC_SLOT and name not in {agent.name for agent in org.agents}:
            if remove_orphans:
                await backend.close_pane(info.pane)
                report.removed.append(name)
            else:
                report.orphans.append(name)

    for window in plan.windows:
        try:
            if await _lay_out(backend, window, window_ids[window.index]):
                report.relaid.append(str(window.index))
        except _NotLaidOut as skipped:
            report.not_laid_out[skipped.window] = skipped.strangers
    await backend.set_session_option(PLAN_OPTION, json.dumps(plan_to_data(plan), separators=(",", ":")))
    return report


async def _bury_or_unbury(
    org: Org,
    backend: TerminalBackend,
    panes: dict[str, PaneInfo],
    report: UpReport,
    say: Progress,
    launcher: _Launcher,
) -> None:
    """Buried agents off screen (started there when they have no pane), unburied ones back from it, before the
    plan is laid out: a pane still buried would be missing from its team's place, one not yet buried a stranger."""
    for agent in org.agents:
        info = panes.get(agent.name)
        if info is None and agent.buried:
            say(f"starting {agent.name} off screen (buried; {agent.kind.value}: {agent.launch_command or 'shell'})")
            launch = launcher.launch(agent)
            program = missing_program(launch)
            if program is not None:
                report.missing[agent.name] = program
            info = await backend.new_window(f"buried:{agent.name}", launch)
            await backend.set_identity(info.pane, org.name, agent.name, _meta(agent))
            panes[agent.name] = await backend.bury(info.pane)
            report.started.append(agent.name)
        elif info is not None and agent.buried != info.buried:
            say(f"{'burying' if agent.buried else 'unburying'} {agent.name}")
            panes[agent.name] = await backend.bury(info.pane, agent.buried)
            (report.buried if agent.buried else report.unburied).append(agent.name)
        elif info is not None and agent.buried:
            if info.alive:
                report.adopted.append(agent.name)
            else:
                say(f"restarting {agent.name} (its program had exited)")
                await backend.respawn_pane(info.pane, launcher.launch(agent))
                report.restarted.append(agent.name)
        if agent.buried:
            await backend.style_pane(panes[agent.name].pane, _style(org, agent.name))


@dataclass
class _Launcher:
    """Every launch of `bring_up`: the agent's, resuming its conversation when `resumer` says how (noted)."""

    org: Org
    extra_env: ExtraEnv | None
    resumer: Resumer | None
    report: UpReport

    def launch(self, agent: Agent) -> Launch:
        resume = self.resumer(agent) if self.resumer is not None else None
        if resume is not None:
            self.report.resumed[agent.name] = resume.how
        return agent_launch(self.org, agent, self.extra_env, resume)


async def _adopt_or_make_exec(backend: TerminalBackend, org: Org, launch: Launch) -> PaneInfo:
    """The executive pane: the first pane of a session we just made, else a new window."""
    if backend.created_session:
        first = min((info for info, _, _ in await backend.list_panes_detailed(False)), key=lambda p: p.index)
        pane = first
    else:
        pane = await backend.new_window("exec", launch)
    await backend.set_identity(pane.pane, org.name, EXEC_SLOT)
    await backend.tag_window(pane.window, org.name, 0)
    return await backend.pane(pane.pane)


async def _previous_plan(backend: TerminalBackend) -> LayoutPlan | None:
    """The plan the last `up` applied (kept in a session option), so that teams keep their windows."""
    text = await backend.session_option(PLAN_OPTION)
    if not text:
        return None
    try:
        return plan_from_data(json.loads(text))
    except (ValueError, TypeError):
        return None  # unreadable: plan afresh


async def _match_windows(
    backend: TerminalBackend, org: str, plan: LayoutPlan, panes: dict[str, PaneInfo], exec_window: str
) -> dict[int, str]:
    """Plan window index → the org's tmux window that already holds most of its panes (none: made later).

    Matching by content rather than by number means a plan whose windows were renumbered moves no pane.
    """
    tagged = [window for window, tag in (await backend.window_tags()).items() if tag.rpartition(":")[0] == org]
    window_ids = {0: exec_window}
    claimed = {exec_window}
    for window in plan.windows[1:]:
        counts: dict[str, int] = {}
        for slot in window.slots():
            info = panes.get(slot)
            if info is not None and info.window in tagged and info.window not in claimed:
                counts[info.window] = counts.get(info.window, 0) + 1
        if counts:
            best = min(counts, key=lambda candidate: (-counts[candidate], candidate))
            window_ids[window.index] = best
            claimed.add(best)
    for index, window_id in window_ids.items():
        await backend.tag_window(window_id, org, index)
    return window_ids


@dataclass
class _Placer:
    """Puts each slot of a plan window into its tmux window, next to its neighbour in plan order."""

    org: Org
    backend: TerminalBackend
    panes: dict[str, PaneInfo]  # slot → pane, kept current as panes are made and moved
    window_ids: dict[int, str]  # plan window index → tmux window id
    report: UpReport
    say: Progress
    launcher: _Launcher

    async def realise(self, window: WindowPlan) -> None:
        slots = window.slots()
        # A backend that cannot apply a layout (iTerm2) builds the tree top-down, each pane split off its anchor.
        steps = split_steps(window.root) if self.backend.splits_per_plan else []
        splits = {slot: (anchor, direction) for slot, anchor, direction in steps if anchor and direction}
        for slot in [slot for slot, _, _ in steps] or slots:
            position = slots.index(slot)
            if slot == EXEC_SLOT:
                continue
            info = self.panes.get(slot)
            agent = self.org.agent(slot)
            if info is None:
                self.say(f"starting {slot} ({agent.kind.value}: {agent.launch_command or 'shell'})")
                self._check_program(slot, agent)
                launch = self.launcher.launch(agent)
                info = await self._place(window, slots, position, None, launch, splits.get(slot))
                await self.backend.set_identity(info.pane, self.org.name, agent.name, _meta(agent))
                self.report.started.append(slot)
            elif info.window != self.window_ids.get(window.index):
                self.say(f"moving {slot} to window {window.index}")
                info = await self._place(window, slots, position, info, None)
                self.report.moved.append(slot)
            elif not info.alive:
                self.say(f"restarting {slot} (its program had exited)")
                self._check_program(slot, agent)
                await self.backend.respawn_pane(info.pane, self.launcher.launch(agent))
                self.report.restarted.append(slot)
            else:
                self.report.adopted.append(slot)
            self.panes[slot] = info
        window_id = self.window_ids[window.index]
        await self.backend.show_pane_borders(window_id)
        for slot in slots:
            await self.backend.style_pane(self.panes[slot].pane, _style(self.org, slot))

    def _check_program(self, slot: str, agent: Agent) -> None:
        """A program that is not there is still started (its pane shows the shell's complaint), and named."""
        program = missing_program(program_launch(self.org, agent))
        if program is not None:
            self.report.missing[slot] = program
            self.say(f"{slot}'s program {program!r} is not found (not on its PATH)")

    async def _place(
        self,
        window: WindowPlan,
        slots: list[str],
        position: int,
        existing: PaneInfo | None,
        launch: Launch | None,
        split: tuple[str, Literal["h", "v"]] | None = None,
    ) -> PaneInfo:
        """A new pane running `launch`, or `existing` moved: next to its neighbour, or in a new window.

        With `split` (the slot whose pane to split, and how), a new pane is split off that pane when it is here.
        """
        window_id = self.window_ids.get(window.index)
        anchor = self.panes.get(split[0]) if split else None
        if split and launch is not None and anchor is not None and anchor.window == window_id:
            return await self.backend.split_pane(anchor.pane, launch, direction=split[1])
        neighbour = self._neighbour(slots, position, window_id) if window_id else None
        if neighbour is None:
            if existing is not None:
                info = await self.backend.break_pane(existing.pane, window.name)
            else:
                assert launch is not None
                info = await self.backend.new_window(window.name, launch)
            self.window_ids[window.index] = info.window
            await self.backend.tag_window(info.window, self.org.name, window.index)
            return info
        target, before = neighbour
        assert window_id is not None  # the neighbour is in it
        if existing is not None:
            await self.backend.join_pane(existing.pane, target, before=before)
            return await self.backend.pane(existing.pane)
        assert launch is not None
        try:
            return await self.backend.split_pane(target, launch, before=before)
        except TmuxCommandError as error:
            if "no space" not in error.tmux_message:
                raise
            # Splitting halves the target; spread the window's space evenly (the plan's layout comes last).
            await self.backend.spread_evenly(window_id)
            return await self.backend.split_pane(target, launch, before=before)

    def _neighbour(self, slots: list[str], position: int, window: str) -> tuple[str, bool] | None:
        """The pane to go next to: the nearest earlier slot's (after it), else a later one's (before it)."""
        for slot in reversed(slots[:position]):
            if slot in self.panes and self.panes[slot].window == window:
                return self.panes[slot].pane, False
        for slot in slots[position + 1 :]:
            if slot in self.panes and self.panes[slot].window == window:
                return self.panes[slot].pane, True
        return None


async def _lay_out(backend: TerminalBackend, window: WindowPlan, window_id: str) -> bool:
    """Put the window's panes in plan order and apply the plan's geometry; True if anything changed."""
    order = [info for info, _, _ in await backend.list_panes_detailed(False) if info.window == window_id]
    order.sort(key=lambda info: info.index)
    by_slot = {info.agent: info.pane for info in order if info.agent}
    wanted = [by_slot[slot] for slot in window.slots() if slot in by_slot]
    if len(order) != len(wanted):
        strangers = [info.agent or info.pane for info in order if info.pane not in wanted]
        raise _NotLaidOut(window.index, strangers)
    width, height = await backend.window_size(window_id)
    return await backend.arrange(window_id, layout_cells(window.root, width, height), wanted)


async def _org_panes(backend: TerminalBackend, org: str) -> dict[str, PaneInfo]:
    return {
        info.agent: info
        for info, _, _ in await backend.list_panes_detailed(all_sessions=False)
        if info.org == org and info.agent
    }


async def list_agents(backend: TerminalBackend, org: str | None = None) -> list[AgentPane]:
    """Every agent pane on the server (or of one org), in session and pane order."""
    agents = []
    for info, session, meta in await backend.list_panes_detailed(all_sessions=True):
        if not info.agent or info.agent == EXEC_SLOT or not info.org or (org and info.org != org):
            continue
        agents.append(
            AgentPane(
                org=info.org,
                name=info.agent,
                team=meta.get("team", ""),
                kind=meta.get("kind", ""),
                pane=info.pane,
                window=info.window,
                pid=info.pid,
                command=meta.get("command", ""),
                current_command=info.command,
                alive=info.alive,
                session=session,
                buried=info.buried,
            )
        )
    return agents


async def running_orgs(backend: TerminalBackend) -> dict[str, str]:
    """Org name → its session, for every org with a pane on the server."""
    return {
        info.org: session
        for info, session, _ in await backend.list_panes_detailed(all_sessions=True)
        if info.org and info.agent
    }


async def bring_down(backend: TerminalBackend, org: str) -> list[str]:
    """Close every pane of the org (its executive pane too); a session left with nothing else is killed."""
    rows = await backend.list_panes_detailed(all_sessions=True)
    ours = [(info, session) for info, session, _ in rows if info.org == org and info.agent]
    closed = [info.agent for info, _ in ours if info.agent and info.agent != EXEC_SLOT]
    sessions = sorted(dict.fromkeys(session for _, session in ours), key=lambda s: s == backend.session)
    for session in sessions:  # our own session last: killing it ends this connection
        others = [info for info, s, _ in rows if s == session and not (info.org == org and info.agent)]
        if not others:
            await backend.kill_session(session)
            continue
        for info, s in ours:
            if s == session:
                await backend.close_pane(info.pane)
    return closed
