"""The commands over the running org: what any front door (keys, palette, `:` line, chat, CLI, API) can run."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, TypeVar

from pydantic import Field

from agent_console.agents import recovery, roles, standing
from agent_console.agents.display import control_characters
from agent_console.agents.errors import ConsoleError, InvalidInput, NotFound
from agent_console.agents.events import BarrierCreated, MessageSent, TaskCancelled, TaskCreated
from agent_console.agents.model import Agent, AgentKind, Org, Role, Team
from agent_console.agents.roles import Target
from agent_console.runtime import worktrees
from agent_console.runtime.commands import (
    POSITIONAL,
    REST,
    Actor,
    Args,
    Command,
    CommandConflict,
    CommandForbidden,
    CommandNotFound,
    CommandRegistry,
    InvalidArguments,
    one_line,
    split_line,
)
from agent_console.runtime.deployment import missing_program, program_launch
from agent_console.terminal.arrangement import check_name

if TYPE_CHECKING:
    from agent_console.runtime.host import CommandHost

_T = TypeVar("_T")
AgentName = Annotated[str, POSITIONAL, Field(description="the agent's name (@name also works)", max_length=80)]


# --- arguments ---------------------------------------------------------------------------------------------------


class SpawnArgs(Args):
    name: Annotated[str, POSITIONAL, Field(description="the new agent's name")]
    team: str = Field(description="the team it joins")
    kind: AgentKind = Field(default=AgentKind.SHELL, description="what program it runs")
    command: str | None = Field(default=None, description="the program to run instead of its kind's")
    worktree: bool = Field(default=False, description="work in a git worktree of its own, on a branch of its name")


class TeamArgs(Args):
    action: Annotated[Literal["new"], POSITIONAL, Field(description="what to do: new")]
    name: Annotated[str, POSITIONAL, Field(description="the team's name")]
    parent: str | None = Field(default=None, description="the team it sits under")


class AgentArgs(Args):
    name: AgentName


class SaveArgs(Args):
    path: Annotated[Path | None, POSITIONAL, Field(description="where (default: the org's spec)")] = None


class ArrangementArgs(Args):
    action: Annotated[Literal["save", "load", "list"], POSITIONAL, Field(description="save, load or list")]
    name: Annotated[str | None, POSITIONAL, Field(description="the arrangement's name", max_length=64)] = None


class AdoptArgs(Args):
    name: Annotated[str, POSITIONAL, Field(description="the agent whose pane to take back, or all")]


class TraceFollowArgs(Args):
    action: Annotated[Literal["open", "close"], POSITIONAL, Field(description="open (default) or close")] = "open"


class BarrierArgs(Args):
    name: Annotated[str, POSITIONAL, Field(description="the barrier's name")]
    count: int | None = Field(default=None, description="how many agents it waits for")
    members: list[str] | None = Field(default=None, description="the agents it waits for (comma-separated)")
    timeout: float | None = Field(default=None, description="open anyway after this many seconds")


class SendArgs(Args):
    to: Annotated[str, POSITIONAL, Field(description="@agent, #team or all")]
    text: Annotated[str, REST, Field(description="the message")]


class DeliveryArgs(Args):
    id: Annotated[str, POSITIONAL, Field(description="the message's id (as `send` answered)", max_length=80)]


class OutboxArgs(Args):
    name: Annotated[str | None, POSITIONAL, Field(description="one agent (default: all)")] = None


class DecideArgs(Args):
    id: Annotated[str, POSITIONAL, Field(description="the request's id (from `approvals`)", max_length=80)]
    reason: str | None = Field(default=None, max_length=500, description="said back to the agent")


class HealthArgs(Args):
    name: Annotated[str | None, POSITIONAL, Field(description="one agent (default: all)", max_length=80)] = None
    as_json: bool = Field(default=False, description="as JSON (one object per agent)")


class BreakerArgs(Args):
    action: Annotated[Literal["reset"], POSITIONAL, Field(description="what to do: reset")]
    name: AgentName


class WhenArgs(Args):
    barrier: Annotated[str, POSITIONAL, Field(description="the barrier to wait for", max_length=64)]
    action: Annotated[
        str, POSITIONAL, Field(description='the command line to ask for, quoted (e.g. "send all deploy")')
    ]
    timeout: float | None = Field(default=None, description="give up after this many seconds")


class TaskArgs(Args):
    id: Annotated[str, POSITIONAL, Field(description="the task's id (from `tasks`)", max_length=80)]


class ApprovalArgs(Args):
    id: Annotated[str, POSITIONAL, Field(description="the request's id (from `approvals`)", max_length=80)]


# --- the commands ------------------------------------------------------------------------------------------------


async def status(supervisor: CommandHost, args: Args, actor: Actor) -> str:
    state = supervisor.state
    counts: dict[str, int] = {}
    for view in state.agents.values():
        counts[view.state.value] = counts.get(view.state.value, 0) + 1
    figures = ", ".join(f"{count} {name}" for name, count in sorted(counts.items())) or "no agents"
    if actor.kind == "agent":  # the approval queue is the human's
        return f"{len(state.agents)} agents: {figures}"
    said = f"{len(state.agents)} agents: {figures}; {len(state.approvals)} pending approval(s)"
    for agent in sorted(supervisor.human_at()):
        said += f"; the human is in {agent}'s pane: the executive sends it nothing until they leave (direct override)"
    return said


async def spawn(supervisor: CommandHost, args: SpawnArgs, actor: Actor) -> str:
    org = supervisor.org
    try:
        agent = Agent(
            name=args.name, team=args.team, kind=args.kind, command=args.command, worktree=args.worktree or None
        )
        new = org.model_validate({**org.model_dump(), "agents": (*org.agents, agent)})
    except ValueError as error:
        raise InvalidArguments(f"spawn: {one_line(error)}") from None
    _check_program("spawn", new, agent)
    where = ""
    if new.uses_worktree(agent):  # made before the pane, so that a refusal leaves nothing behind
        tree = _worktree_call("spawn", lambda: worktrees.ensure(org.name, agent.name, Path.cwd() / agent.cwd))
        where = f", in worktree {tree.path} on branch {tree.branch}"
    await supervisor.reconfigure(new, actor.name)
    return f"spawned {args.name} ({args.kind.value}) in team {args.team}{where}"


async def team(supervisor: CommandHost, args: TeamArgs, actor: Actor) -> str:
    org = supervisor.org
    try:
        new_team = Team(name=args.name, parent=args.parent)
        new = org.model_validate({**org.model_dump(), "teams": (*org.teams, new_team)})
    except ValueError as error:
        raise InvalidArguments(f"team: {one_line(error)}") from None
    await supervisor.reconfigure(new, actor.name)
    return f"team {args.name} created" + (f" under {args.parent}" if args.parent else "")


async def kill(supervisor: CommandHost, args: AgentArgs, actor: Actor) -> str:
    name = one_agent(supervisor, "kill", args.name)
    org = supervisor.org
    new = org.model_validate({**org.model_dump(), "agents": tuple(a for a in org.agents if a.name != name)})
    await supervisor.reconfigure(new, actor.name)
    return f"killed {name} and closed its pane" + _worktree_kept(org.name, name)


async def restart(supervisor: CommandHost, args: AgentArgs, actor: Actor) -> str:
    name = one_agent(supervisor, "restart", args.name)
    _check_program("restart", supervisor.org, supervisor.org.agent(name))
    resumed = await supervisor.restart_agent(name)
    return f"restarted {name}" + (f", resuming {resumed}" if resumed else " (its program starts afresh)")


async def bury(supervisor: CommandHost, args: AgentArgs, actor: Actor) -> str:
    return await _set_buried(supervisor, "bury", args.name, True, actor)


async def unbury(supervisor: CommandHost, args: AgentArgs, actor: Actor) -> str:
    return await _set_buried(supervisor, "unbury", args.name, False, actor)


async def _set_buried(supervisor: CommandHost, command: str, name: str, buried: bool, actor: Actor) -> str:
    """Change whether the agent runs off screen; the org is laid out again (and the change journaled) by
    `reconfigure`, so a later `up` or restart keeps it so."""
    name = one_agent(supervisor, command, name)
    org = supervisor.org
    if org.agent(name).buried == buried:
        where = "off screen already" if buried else "on screen already (not buried)"
        return f"{command}: {name} is {where}: nothing to do"
    agents = tuple(a.model_copy(update={"buried": buried}) if a.name == name else a for a in org.agents)
    await supervisor.reconfigure(org.replaced(agents=agents), actor.name)
    if buried:
        return (
            f"buried {name}: its pane is off screen; its program runs on, still watched "
            f"(its requests still reach the approval queue); unbury {name} brings it back"
        )
    return f"unburied {name}: back in its team's place in the layout"


async def promote(supervisor: CommandHost, args: AgentArgs, actor: Actor) -> str:
    """Make the agent its team's coordinator; the team's coordinator until now becomes a worker (one a team)."""
    name = one_agent(supervisor, "promote", args.name)
    org = supervisor.org
    agent = org.agent(name)
    if agent.role is Role.EXEC:
        raise CommandConflict(f"promote: {name} is the exec: it leads the whole org already")
    if agent.role is Role.COORDINATOR:
        return f"promote: {name} coordinates team {agent.team} already: nothing to do"
    previous = [a.name for a in org.agents if a.team == agent.team and a.role is Role.COORDINATOR]
    roles = {name: Role.COORDINATOR, **dict.fromkeys(previous, Role.WORKER)}
    agents = tuple(a.model_copy(update={"role": roles[a.name]}) if a.name in roles else a for a in org.agents)
    await supervisor.reconfigure(org.replaced(agents=agents), actor.name)
    demoted = f"; {', '.join(previous)} (its coordinator until now) is a worker again" if previous else ""
    where = "buried: on top of its column once unburied" if agent.buried else "at the top of its column"
    return f"promoted {name}: coordinator of team {agent.team}, {where}{demoted}"


async def demote(supervisor: CommandHost, args: AgentArgs, actor: Actor) -> str:
    name = one_agent(supervisor, "demote", args.name)
    org = supervisor.org
    agent = org.agent(name)
    if agent.role is Role.EXEC:
        raise CommandConflict(f"demote: {name} is the exec: change its role in the spec")
    if agent.role is Role.WORKER:
        return f"demote: {name} is a worker already: nothing to do"
    agents = tuple(a.model_copy(update={"role": Role.WORKER}) if a.name == name else a for a in org.agents)
    await supervisor.reconfigure(org.replaced(agents=agents), actor.name)
    return f"demoted {name}: a worker of team {agent.team} again; the team has no coordinator until you promote one"


async def save(supervisor: CommandHost, args: SaveArgs, actor: Actor) -> str:
    path = (args.path or Path(supervisor.spec or f"{supervisor.org.name}.toml")).expanduser()
    try:
        written = supervisor.save(path, actor.name)
    except OSError as error:
        raise InvalidArguments(f"save: cannot write {path}: {error.strerror or error}") from None
    return f"saved the org to {path}: {written}; start it again with: agent-console {path}"


async def arrangement(supervisor: CommandHost, args: ArrangementArgs, actor: Actor) -> str:
    """Save the windows' layouts and which agent is in which under a name, load them again, or list them."""
    if args.action == "list":
        names = await supervisor.arrangement_names()
        return f"arrangements: {', '.join(names)}" if names else "no arrangement saved yet: arrangement save NAME"
    if args.name is None:
        raise InvalidArguments(f"arrangement {args.action}: which one? write: arrangement {args.action} NAME")
    try:
        name = check_name(args.name)
    except InvalidInput as error:
        raise InvalidArguments(f"arrangement {args.action}: {error}") from None
    if args.action == "save":
        kept = await supervisor.save_arrangement(name)
        return f"saved arrangement {name}: {kept}; bring it back with: arrangement load {name}"
    try:
        problems = await supervisor.restore_arrangement(name)
    except NotFound as error:
        raise CommandNotFound(f"arrangement load: {error}") from None
    done = f"loaded arrangement {name}"
    if problems:
        done += "; not restored: " + "; ".join(problems)
    return done + " (the next change to the org lays the panes out by the org chart again)"


async def adopt(supervisor: CommandHost, args: AdoptArgs, actor: Actor) -> str:
    name = args.name.removeprefix("@")
    try:
        adopted = await supervisor.adopt(None if name == "all" else [name], actor.name)
    except KeyError:
        running = ", ".join(await supervisor.orphans()) or "none"
        raise CommandNotFound(f"adopt: no pane outside the org runs an agent {name!r} (running: {running})") from None
    if not adopted:
        return "adopt: every pane of the org runs one of its agents: nothing to adopt"
    kept = "its program kept running" if len(adopted) == 1 else "their programs kept running"
    return f"adopted {', '.join(adopted)}: back in the org ({kept})"


async def barrier(supervisor: CommandHost, args: BarrierArgs, actor: Actor) -> str:
    members = tuple(args.members) if args.members else None
    if args.count is None and members is None:
        raise InvalidArguments("barrier: give --count N or --members a,b,c")
    try:
        created = BarrierCreated(name=args.name, count=args.count, members=members, timeout=args.timeout)
    except ValueError as error:
        raise InvalidArguments(f"barrier: {one_line(error)}") from None
    supervisor.submit(actor.name, created)
    size = f"{args.count} agents" if args.count else ", ".join(members or ())
    return f"barrier {args.name} waits for {size}; agents join with: agent-console barrier wait {args.name}"


async def send(supervisor: CommandHost, args: SendArgs, actor: Actor) -> str:
    """A message to `@agent`, `#team` or `all`, through the agents' outboxes. It is pasted into the agents' panes
    as text, so control characters (Ctrl-C, Ctrl-U, Ctrl-D, escapes…) are refused."""
    to, text = args.to, args.text.strip()
    if to.startswith("@") and to[1:] not in supervisor.state.agents:
        known = ", ".join(sorted(supervisor.state.agents)) or "none yet"
        raise CommandNotFound(f"There is no agent {to[1:]!r} (agents: {known}).")
    if to.startswith("#") and to[1:] not in supervisor.state.teams:
        known = ", ".join(sorted(supervisor.state.teams)) or "none yet"
        raise CommandNotFound(f"There is no team {to[1:]!r} (teams: {known}).")
    if not text:
        raise InvalidArguments(f"what should {to} be told? write: {to} your message")
    controls = control_characters(text)
    if controls:
        raise InvalidArguments(
            f"not sent to {to}: the message holds control characters ({' '.join(controls)}); "
            "a message is pasted as text and cannot press keys: write it without them"
        )
    recipients = _recipients(supervisor, to, actor.name)
    if not recipients:
        raise CommandConflict(f"not sent: {to} has nobody to receive it (but the sender)")
    try:
        # one record, naming whom it is for as they are now (a team that changes later does not change it)
        message = MessageSent(id=uuid.uuid4().hex[:16], to=to, text=text, recipients=tuple(recipients))
    except ValueError as error:
        raise InvalidArguments(f"cannot send to {to}: {one_line(error)}") from None
    supervisor.submit(actor.name, message)
    pending = supervisor.state.messages.get(message.id)
    waiting = [name for name in recipients if pending and name in pending.pending]  # in the org's order
    if len(waiting) == 1 and not to.startswith(("#", "all")):
        return f"queued for {to} — {supervisor.typist.why_waiting(waiting[0]) or 'typing it in now'}"
    count = f"{len(recipients)} recipient" + ("s" if len(recipients) != 1 else "")
    return f"queued for {to} (message {message.id}, {count}) — " + _why_by_reason(supervisor, waiting)


async def delivery(supervisor: CommandHost, args: DeliveryArgs, actor: Actor) -> str:
    """Each recipient of a message (a broadcast above all): delivered, typed in, or why it waits."""
    state = supervisor.state
    message = state.messages.get(args.id)
    if message is None:
        if state.was_sent(args.id):
            return f"message {args.id}: delivered to every recipient"
        raise CommandNotFound(f"delivery: no message {args.id!r} (the id `send` answered with)")
    delivered = [name for name in message.recipients if name not in message.pending]
    typed = [name for name in message.recipients if name in message.pending and name in message.typed]
    waiting = [name for name in message.recipients if name in message.pending and name not in message.typed]
    parts = [f"message {message.id} from {message.sender} to {message.to} ({len(message.recipients)} recipients)"]
    if delivered:
        parts.append(f"delivered: {_some(delivered)}")
    if typed:
        parts.append(f"typed in, not yet taken up: {_some(typed)}")
    if waiting:
        parts.append(_why_by_reason(supervisor, waiting))
    return "; ".join(parts)


def _recipients(supervisor: CommandHost, to: str, sender: str) -> list[str]:
    """Whom `to` reaches now, as the journal's fold counts them (the sender left out)."""
    state = supervisor.state
    if to == "all":
        names = list(state.agents)
    elif to.startswith("#"):
        names = state.team_agents(to[1:])
    else:
        names = [to[1:]] if to[1:] in state.agents else []
    return [name for name in names if name != sender]


def _why_by_reason(supervisor: CommandHost, agents: list[str]) -> str:
    """Why each agent's message waits, one clause a reason (a broadcast to 200 agents is still one line)."""
    reasons: dict[str, list[str]] = {}
    for agent in agents:
        reasons.setdefault(supervisor.typist.why_waiting(agent) or "typing it in now", []).append(agent)
    return "; ".join(f"{_some(names)}: {why}" for why, names in reasons.items())


def _some(names: list[str], most: int = 8) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


async def outbox(supervisor: CommandHost, args: OutboxArgs, actor: Actor) -> str:
    state = supervisor.state
    if args.name is not None:
        agents = [one_agent(supervisor, "outbox", args.name)]
    else:
        agents = [agent for agent in state.agents if agent in state.outboxes]
    lines = [line for agent in agents for line in supervisor.typist.describe_outbox(agent)]
    if not lines:
        return f"nothing waits for {agents[0]}" if args.name is not None else "no message waits"
    return "\n".join(lines)


async def approve(supervisor: CommandHost, args: DecideArgs, actor: Actor) -> str:
    return await _decide(supervisor, args.id, True, args.reason)


async def deny(supervisor: CommandHost, args: DecideArgs, actor: Actor) -> str:
    return await _decide(supervisor, args.id, False, args.reason)


async def approve_always(supervisor: CommandHost, args: DecideArgs, actor: Actor) -> str:
    return await _decide(supervisor, args.id, True, args.reason, always=True)


async def approve_identical(supervisor: CommandHost, args: ApprovalArgs, actor: Actor) -> str:
    ids = supervisor.state.identical_approvals(args.id)
    if not ids:
        await _decide(supervisor, args.id, True, None)  # says why: unknown, or decided already
    for approval_id in ids:
        await supervisor.decide(approval_id, True, None)
    return f"approved {len(ids)} identical request(s)"


async def _decide(
    supervisor: CommandHost, request_id: str, approved: bool, reason: str | None, always: bool = False
) -> str:
    pending = await supervisor.decide(request_id, approved, reason, always)
    verb = "approved for always" if always else "approved" if approved else "denied"
    outcome = supervisor.outcomes.pop(request_id, None)  # what the console's own request did, once approved
    return f"{verb} {pending.agent}: {pending.command or pending.text}" + (f" — {outcome}" if outcome else "")


async def diff(supervisor: CommandHost, args: AgentArgs, actor: Actor) -> str:
    """The agent's worktree against its base, as a diff (the console shows it in a dialog)."""
    name = args.name.removeprefix("@")
    tree = _worktree_call("diff", lambda: worktrees.find(supervisor.org.name, name))
    text = supervisor.redactor.text(_worktree_call("diff", lambda: worktrees.diff(tree)))
    return text or f"# {name}: no change against {tree.base} ({tree.branch})\n"


async def merge(supervisor: CommandHost, args: AgentArgs, actor: Actor) -> str:
    """Ask the human to merge the agent's branch, at its head now, into its base; done only once approved."""
    name = args.name.removeprefix("@")
    tree = _worktree_call("merge", lambda: worktrees.find(supervisor.org.name, name))
    state = _worktree_call("merge", lambda: worktrees.status(tree))
    if state.uncommitted:
        raise CommandConflict(
            f"merge: {name}'s worktree {tree.path} has {state.uncommitted} uncommitted change(s), which a merge "
            f"would leave out: have them committed first (or /discard {name})"
        )
    if not state.ahead:
        return f"merge: {tree.branch} has no commit that is not on {tree.base}: nothing to merge"
    commit = _worktree_call("merge", lambda: worktrees.head(tree))
    operation = (
        f"git merge --no-ff {commit[:12]} ({tree.branch}, {state.ahead} commit(s)) into {tree.base} at {tree.repo}"
    )
    request = supervisor.request_operation(
        f"merge {name}'s work into {tree.base} (asked by {actor})", operation, lambda: worktrees.merge(tree, commit)
    )
    return f"merge of {name} waits for your approval (request {request}): {operation}"


async def discard(supervisor: CommandHost, args: AgentArgs, actor: Actor) -> str:
    """Ask the human to remove a removed agent's worktree and branch; done only once approved."""
    name = args.name.removeprefix("@")
    org = supervisor.org
    tree = _worktree_call("discard", lambda: worktrees.find(org.name, name))
    if name in {agent.name for agent in org.agents}:
        raise CommandConflict(f"discard: {name} still works in {tree.path}: /kill {name} first (its worktree is kept)")
    state = _worktree_call("discard", lambda: worktrees.status(tree)) if (tree.path / ".git").exists() else None
    lost = (
        f"{state.ahead} commit(s) not on {tree.base}, {state.uncommitted} uncommitted change(s)"
        if state is not None
        else "its folder is gone already"
    )
    operation = f"git worktree remove --force {tree.path} && git branch -D {tree.branch} at {tree.repo}"
    request = supervisor.request_operation(
        f"discard {name}'s work for good: {lost} (asked by {actor})",
        operation,
        lambda: worktrees.discard(org.name, tree),
    )
    return f"discarding {name}'s work waits for your approval (request {request}): {lost}"


async def health(supervisor: CommandHost, args: HealthArgs, actor: Actor) -> str:
    """Each agent's liveness (last proof of life, its source and age), condition, last recovery step and its outcome,
    breaker and mean time to recover."""
    names = [one_agent(supervisor, "health", args.name)] if args.name else list(supervisor.state.agents)
    rows = [recovery.health_row(supervisor.state, name, time.time()) for name in names]
    if args.as_json:
        return json.dumps(rows, sort_keys=True, separators=(",", ":"))  # one line: shown as is by every front door
    if not rows:
        return "no agents"
    return "\n".join(recovery.health_line(row) for row in rows)


async def recover(supervisor: CommandHost, args: AgentArgs, actor: Actor) -> str:
    """Climb the agent's recovery ladder now, whatever was detected (the breaker does not stop a recovery asked for
    by hand; the human's pane and pending approvals still hold it)."""
    name = one_agent(supervisor, "recover", args.name)
    if not supervisor.recovery.start(name, None, by_hand=True):
        raise CommandConflict(f"recover: {name} is being recovered already: health {name} shows its step")
    ladder = ", ".join(supervisor.recovery.policy(name).ladder)
    return f"recovering {name}: {ladder} (health {name} shows each step)"


async def breaker(supervisor: CommandHost, args: BreakerArgs, actor: Actor) -> str:
    name = one_agent(supervisor, "breaker", args.name)
    if not supervisor.recovery.reset(name, actor.name):
        return f"breaker reset: {name}'s breaker is closed already: nothing to do"
    return f"closed {name}'s breaker: automatic recovery is back on for it"


# --- standing tasks ----------------------------------------------------------------------------------------------

# A task's action is filed for the human to approve: deciding is the human's own act, then and there
NOT_AN_ACTION = {"approve", "deny", "approve-identical", "approve-always", "when", "cancel-task"}


async def when(supervisor: CommandHost, args: WhenArgs, actor: Actor) -> str:
    """A standing task: once the barrier releases, the action (a command line) goes to the approval queue, to run
    as `actor` once the human approves; checked now too, so that a mistake is said now rather than later."""
    words = split_line(args.action)
    if not words:
        raise InvalidArguments('when: what should be done? write: when BARRIER "COMMAND LINE"')
    registry = org_commands()
    try:
        command = registry.find(words[0])
        parsed = registry.parse(command, words[1:])
    except ConsoleError as error:
        raise InvalidArguments(f"when: the action {args.action!r}: {error}") from None
    if command.name in NOT_AN_ACTION:
        raise InvalidArguments(f"when: {command.name} cannot be a task's action: the action itself waits for approval")
    target = command.target(parsed) if command.target is not None else None
    refused = roles.denial(supervisor.org, actor.principal, "command", command.name, target)
    if refused is not None:
        raise CommandForbidden(f"when: the action would be refused: {refused}")
    state = supervisor.state
    if sum(task.by == actor.name for task in standing.waiting(state)) >= standing.MAX_WAITING:  # each maker's own
        raise CommandConflict(
            f"when: {standing.MAX_WAITING} of your tasks wait already: cancel one first (tasks lists them)"
        )
    try:
        created = TaskCreated(
            id=f"t{len(state.tasks) + 1}", barrier=args.barrier, action=args.action, timeout=args.timeout, via=actor.via
        )
    except ValueError as error:
        raise InvalidArguments(f"when: {one_line(error)}") from None
    supervisor.submit(actor.name, created)
    barrier = state.barriers.get(args.barrier)
    if barrier is None:
        waits = f"barrier '{args.barrier}' is not open yet: the task waits for it to open and release"
    elif barrier.members is not None:
        waits = f"once barrier '{args.barrier}' releases (waiting for {', '.join(barrier.missing) or 'nobody'})"
    else:
        waits = f"once barrier '{args.barrier}' releases ({len(barrier.arrived)} of {barrier.count} arrived)"
    deadline = f", or gives up after {args.timeout:g}s" if args.timeout else ""
    return f"task {created.id}: {waits}{deadline}; then `{args.action}` waits for your approval, to run as {actor}"


async def tasks(supervisor: CommandHost, args: Args, actor: Actor) -> str:
    """The standing tasks waiting, and the last few that ended (an agent sees its own)."""
    mine = [t for t in supervisor.state.tasks.values() if actor.kind != "agent" or t.by == actor.name]
    waiting = [t for t in mine if t.status == "waiting"]
    ended = [t for t in mine if t.status != "waiting"][-5:]
    lines = [
        f"{t.id}: when '{t.barrier}' releases: `{t.action}` (by {t.by}"
        + (f", gives up at {t.timeout:g}s" if t.timeout else "")
        + ")"
        for t in waiting
    ]
    lines += [f"{t.id}: {t.status}: {t.said}" for t in ended]
    return "\n".join(lines) if lines else 'no standing task: when BARRIER "COMMAND LINE" makes one'


async def cancel_task(supervisor: CommandHost, args: TaskArgs, actor: Actor) -> str:
    task = supervisor.state.tasks.get(args.id)
    if task is None or (actor.kind == "agent" and task.by != actor.name):
        known = ", ".join(t.id for t in standing.waiting(supervisor.state)) or "none waits"
        raise CommandNotFound(f"cancel-task: no task {args.id!r} ({known})")
    if task.status != "waiting":
        raise CommandConflict(f"cancel-task: task {args.id} has ended already: {task.status}: {task.said}")
    supervisor.submit(actor.name, TaskCancelled(id=task.id, reason=f"cancelled by {actor}"))
    return f"cancelled task {task.id}: `{task.action}` will not be asked for"


# --- helpers -----------------------------------------------------------------------------------------------------


def one_agent(supervisor: CommandHost, command: str, name: str) -> str:
    """`name` (or `@name`) when the org has that agent."""
    name = name.removeprefix("@")
    if name not in {agent.name for agent in supervisor.org.agents}:
        raise CommandNotFound(f"{command}: no agent {name!r}")
    return name


def _worktree_call(command: str, call: Callable[[], _T]) -> _T:
    try:
        return call()
    except worktrees.WorktreeError as error:
        kind = CommandNotFound if isinstance(error, NotFound) else CommandConflict
        raise kind(f"{command}: {error}") from None


def _worktree_kept(org: str, name: str) -> str:
    """What removing an agent left of its work: its worktree is never deleted unasked."""
    tree = worktrees.registered(org).get(name)
    if tree is None:
        return ""
    return f"; its worktree {tree.path} (branch {tree.branch}) is kept: /merge {name} or /discard {name}"


def _check_program(command: str, org: Org, agent: Agent) -> None:
    """Refuse to start a program that is not there: say which, rather than leave a dead pane."""
    program = missing_program(program_launch(org, agent))
    if program is not None:
        other = ", or give another with --command" if command == "spawn" else ""
        raise CommandConflict(
            f"{command}: program {program!r} not found (not on PATH): install it{other}; {agent.name} was not started"
        )


def org_commands() -> CommandRegistry:
    """Every command over the org; who may run each is its row of the permission matrix (`agents/roles.py`)."""
    registry = CommandRegistry()
    for command in (
        Command("approve", "approve a pending request", approve, DecideArgs),
        Command("deny", "deny a pending request", deny, DecideArgs),
        Command(
            "approve-identical", "approve every pending request identical to this one", approve_identical, ApprovalArgs
        ),
        Command("approve-always", "answer a program's prompt: yes, and don't ask again", approve_always, DecideArgs),
        Command("status", "agents by state and pending approvals", status, Args),
        Command("spawn", "start a new agent", spawn, SpawnArgs, lambda args: Target(teams=(args.team,))),
        Command("team", "create a team", team, TeamArgs, lambda args: Target(teams=(args.parent,))),
        Command("kill", "stop an agent and close its pane", kill, AgentArgs, _named_agent, asks=True),
        Command("restart", "restart an agent's program in its pane", restart, AgentArgs, _named_agent, asks=True),
        Command("bury", "take an agent's pane off screen (it runs on, still watched)", bury, AgentArgs, _named_agent),
        Command("unbury", "bring a buried agent's pane back to its team", unbury, AgentArgs, _named_agent),
        Command("promote", "make an agent its team's coordinator (its pane on top)", promote, AgentArgs, _named_agent),
        Command("demote", "make a coordinator a worker again", demote, AgentArgs, _named_agent),
        Command("save", "write the org as it is now as a spec (ORG.toml)", save, SaveArgs),
        Command("arrangement", "save, load or list named arrangements of the windows", arrangement, ArrangementArgs),
        Command("adopt", "take running panes of agents outside the org back into it", adopt, AdoptArgs),
        Command(
            "barrier",
            "set up a barrier for agents to wait at",
            barrier,
            BarrierArgs,
            lambda args: Target(agents=tuple(args.members or ()), talk=True),
        ),
        Command(
            "send",
            "message @agent, #team or all",
            send,
            SendArgs,
            lambda args: Target.address(args.to),
            asks=lambda args: args.to == "all",
        ),
        Command("outbox", "messages waiting for agents, and why they wait", outbox, OutboxArgs),
        Command("delivery", "a message's recipients: delivered, typed in, or why it waits", delivery, DeliveryArgs),
        Command("diff", "an agent's worktree against its base branch", diff, AgentArgs, _named_agent),
        Command("merge", "merge an agent's branch into its base (once you approve)", merge, AgentArgs, _named_agent),
        Command("discard", "delete a removed agent's worktree and branch (once you approve)", discard, AgentArgs),
        Command("health", "agents' liveness, conditions, recoveries and breakers", health, HealthArgs, _health_target),
        Command("recover", "run an agent's recovery ladder now", recover, AgentArgs, _named_agent),
        Command("breaker", "reset an agent's circuit breaker (automatic recovery on again)", breaker, BreakerArgs),
        Command("when", "when a barrier releases, ask for your approval to run a command line", when, WhenArgs),
        Command("tasks", "the standing tasks (when … then …), waiting and ended", tasks, Args),
        Command("cancel-task", "cancel a standing task", cancel_task, TaskArgs),
        Command(
            "trace-follow",
            "stream the journal live into a pane of its own (a second screen); close closes it",
            trace_follow,
            TraceFollowArgs,
        ),
    ):
        registry.register(command)
    return registry


def _health_target(args: HealthArgs) -> Target:
    """Reading health is addressing: an agent of one's reach, or everyone."""
    if args.name is None:
        return Target(everyone=True, talk=True)
    return Target(agents=(args.name.removeprefix("@"),), talk=True)


async def trace_follow(supervisor: CommandHost, args: TraceFollowArgs, actor: Actor) -> str:
    if args.action == "close":
        return await supervisor.debug_pane.close()
    return await supervisor.debug_pane.open()


def _named_agent(args: AgentArgs) -> Target:
    return Target(agents=(args.name.removeprefix("@"),))
