"""Every agent's health in one keyed table: state, task, time since it was last heard of, restarts, approvals."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from agent_console.agents.recovery import RECOVERING_GLYPH, recovery_label
from agent_console.agents.state import AgentView, OrgState
from agent_console.themes.states import STATE_STYLES, state_color

from .formatting import BURIED_MARKER, agent_text, cell_key, format_age, grows, is_dark, state_text

TASK_WIDTH = 32
ROWS_PER_STEP = 50  # rows `update_health_in_steps` updates between two yields
THROTTLED_SHOWN_SECONDS = 60.0  # a refusal journaled this recently flags the agent
# a narrow pane crops the right-hand columns first: the short figures come before the task, and the team
# (which the org tree shows too) comes last. Key, header, fixed width (None: as wide as its widest cell),
# and what it means (the help screen shows it).
COLUMNS = (
    (
        "agent",
        "Agent",
        None,
        f"the agent's name (dim: its program is not running; {BURIED_MARKER}: its pane is off screen)",
    ),
    ("state", "State", max(len(name) for name in STATE_STYLES) + 2, "its one effective state (i: the evidence)"),
    ("last", "Last", 4, "time since it was last heard of (a report, a hook, its screen, a launch)"),
    ("approvals", "Pending", 7, "its requests waiting in the approval queue"),
    ("restarts", "Restarts", 8, "launches after the first"),
    (
        "task",
        "Task",
        TASK_WIDTH,
        "what it said it is doing; 'stuck 3m': working, its screen unchanged that long; "
        "'throttled': over one of its limits in the last minute",
    ),
    ("team", "Team", None, "its team"),
)
# Shown once an agent has a git worktree: its branch, then '+N' commits not on its base and '~N' files changed
# and not committed ('clean': neither).
WORKTREE_COLUMN = (
    "worktree",
    "Worktree",
    None,
    "agents with a worktree: +N commits not on its base, ~N files changed and not committed (else clean), its branch",
)
WORKTREE_AT = 5  # its place: after the short figures, before the task
# Shown once an agent has been in trouble (a condition found, a recovery step, a breaker not closed): what the
# console does about it. `recovery` goes right after the state (a narrow pane keeps it); the others before the task.
RECOVERY_COLUMNS = (
    (
        "recovery",
        "Recovery",
        25,
        "what is being done: 🔄 recovering (step i/n, 'held' while you are in its pane or it waits for you), "
        "'breaker open' (no more automatic restarts: breaker reset NAME), 'error (provider)' (an outage: nobody "
        "is restarted), or the condition found (crashed, hung, silent, error-loop, unanswered)",
    ),
    ("alive", "Alive", 10, "its last proof of life and how old it is: heartbeat, hook, report, screen or process"),
    ("outcome", "Last recovery", 20, "its last recovery step and how it went"),
    ("mttr", "MTTR", 5, "mean time to recover, over its automatic recoveries"),
)
LIFE_WORDS = {"heartbeat": "hb", "hook": "hook", "report": "report", "screen": "screen", "process": "start"}


class HealthTable(DataTable[str | Text]):
    """One row per agent, keyed by its name: agent, state, time since last heard of, pending approvals, restarts,
    task, team. `update_health` touches only the cells whose value changed; columns keep their widths."""

    BORDER_TITLE = "Health"

    BINDINGS = [Binding("i", "show_agent", "Evidence", tooltip="Why the agent is in its state")]

    class AgentSelected(Message):
        """An agent's row was chosen (enter or click)."""

        def __init__(self, agent: str) -> None:
            super().__init__()
            self.agent = agent

    class ShowAgent(Message):
        """The human asked for an agent's details: its state and the evidence behind it."""

        def __init__(self, agent: str) -> None:
            super().__init__()
            self.agent = agent

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, name=name, id=id, classes=classes)
        self._values: dict[str, tuple[str | Text, ...]] = {}
        self._inputs: dict[str, tuple[object, ...]] = {}  # what each row was made from: unchanged rows are skipped
        self._columns = list(COLUMNS)
        self._worktrees: Mapping[str, str] = {}
        self._recovery = False  # the recovery columns are shown

    def on_mount(self) -> None:
        self._add_columns()

    def _add_columns(self) -> None:
        if not self.columns:
            for key, label, width, _ in COLUMNS:
                self.add_column(label, key=key, width=width)

    @property
    def agent_names(self) -> list[str]:
        """The agents shown, top to bottom."""
        return [str(row.key.value) for row in self.ordered_rows]

    def update_health(self, state: OrgState, now: float, worktrees: Mapping[str, str] | None = None) -> None:
        """Show `state`, with ages measured at `now` (seconds since the epoch), and each agent's worktree (its
        branch and changes, as text) when it has one."""
        for _ in self.update_health_in_steps(state, now, worktrees=worktrees):
            pass

    def update_health_in_steps(
        self, state: OrgState, now: float, rows: int = ROWS_PER_STEP, worktrees: Mapping[str, str] | None = None
    ) -> Iterator[None]:
        """`update_health`, `rows` agents at a time: it yields between them, so that the caller can let the
        event loop handle a key before the next ones (a row that changed costs; hundreds of them, more)."""
        pending: dict[str, int] = {}
        for approval in state.approvals.values():
            pending[approval.agent] = pending.get(approval.agent, 0) + 1
        self._add_columns()
        self._worktrees = worktrees or {}
        self._recovery = self._recovery or any(_troubled(view) for view in state.agents.values())
        wanted = _layout(bool(self._worktrees) or WORKTREE_COLUMN in self._columns, self._recovery)
        if wanted != self._columns:
            # Once, when the first agent has a worktree, and once when the first is in trouble: the new columns go
            # where a narrow pane still shows them, so the table is built again with them.
            self.clear(columns=True)
            self._values.clear()
            self._inputs.clear()
            self._columns = wanted
            for key, label, width, _ in self._columns:
                self.add_column(label, key=key, width=width)
        dark = is_dark(self)  # once a refresh: the theme lookup is not free
        with self.app.batch_update():
            for agent in [agent for agent in self._values if agent not in state.agents]:
                del self._values[agent]
                self._inputs.pop(agent, None)
                self.remove_row(agent)
        agents = list(state.agents.items())  # the state may change between steps
        for start in range(0, len(agents), rows):
            if start:
                yield
                if not self.is_attached:
                    return
            with self.app.batch_update():
                for agent, view in agents[start : start + rows]:
                    if state.agents.get(agent) is not view:
                        continue  # gone meanwhile: the next refresh takes its row away
                    self._update_row(agent, view, pending.get(agent, 0), now, dark)

    def _update_row(self, agent: str, view: AgentView, pending: int, now: float, dark: bool) -> None:
        inputs = self._row_inputs(view, pending, now, dark)
        previous = self._values.get(agent)
        if previous is not None and self._inputs.get(agent) == inputs:
            return  # most rows, most refreshes: building their cells again would cost the most
        self._inputs[agent] = inputs
        values = self._row(view, pending, now, dark)
        if previous is None:
            self.add_row(*values, key=agent)
        else:
            for (column, *_), old, new in zip(self._columns, previous, values, strict=True):
                if cell_key(old) != cell_key(new):
                    self.update_cell(agent, column, new, update_width=grows(self, column, new))
        self._values[agent] = values

    def _row_inputs(self, view: AgentView, pending: int, now: float, dark: bool) -> tuple[object, ...]:
        """Everything `_row` reads, as shown (ages as their text): equal inputs make equal cells."""
        return (
            len(self._columns),
            self._worktrees.get(view.name),
            view.name,
            view.alive,
            view.buried,
            view.state,
            None if view.last_event is None else format_age(now - view.last_event),
            pending,
            view.restarts,
            view.task,
            view.team,
            view.throttled_at is not None and now - view.throttled_at < THROTTLED_SHOWN_SECONDS,
            None if view.stalled_since is None else format_age(now - view.stalled_since),
            dark,
            self._recovery and _recovery_inputs(view, now),
        )

    def _row(self, view: AgentView, pending: int, now: float, dark: bool) -> tuple[str | Text, ...]:
        age = None if view.last_event is None else now - view.last_event
        cells: dict[str, str | Text] = {
            "agent": self._agent_cell(view),
            "state": state_text(view.state, dark=dark),
            "last": format_age(age),
            "approvals": Text(str(pending), style="bold " + state_color("waiting", dark)) if pending else "",
            "restarts": Text(
                str(view.restarts), style="bold " + state_color("recovering", dark) if view.restarts else "dim"
            ),
            "task": self._task_cell(view, now, dark),
            "team": view.team or "",
            "worktree": Text(self._worktrees.get(view.name, "")),
        }
        if self._recovery:
            cells.update(_recovery_cells(view, now, dark))
        return tuple(cells[key] for key, *_ in self._columns)

    @staticmethod
    def _agent_cell(view: AgentView) -> Text:
        name = Text(view.name, style="bold" if view.alive else "dim")
        if view.buried:
            name.append(f" {BURIED_MARKER}", style="italic")
        return name

    @staticmethod
    def _task_cell(view: AgentView, now: float, dark: bool) -> Text:
        """The task, after flags: working with a screen that has not moved for a while; over its limits lately."""
        text = Text()
        if view.throttled_at is not None and now - view.throttled_at < THROTTLED_SHOWN_SECONDS:
            text.append("throttled ", style="bold " + state_color("error", dark))
        if view.stalled_since is not None:
            text.append(f"stuck {format_age(now - view.stalled_since)} ", style="bold " + state_color("error", dark))
        text.append_text(agent_text(view.task or "", max(1, TASK_WIDTH - len(text))))
        return text

    def action_show_agent(self) -> None:
        if self.row_count:
            row = min(max(self.cursor_row, 0), self.row_count - 1)
            self.post_message(self.ShowAgent(self.agent_names[row]))

    @on(DataTable.RowSelected)
    def _row_chosen(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.AgentSelected(event.row_key.value))


def _troubled(view: AgentView) -> bool:
    return view.condition is not None or view.recovery is not None or view.breaker != "closed" or bool(view.outage)


def _layout(worktree: bool, recovery: bool) -> list[tuple[str, str, int | None, str]]:
    """The columns in order: the recovery label after the state, the other recovery figures and the worktree
    before the task (narrow panes crop from the right)."""
    columns = list(COLUMNS)
    before_task = [*(RECOVERY_COLUMNS[1:] if recovery else ()), *((WORKTREE_COLUMN,) if worktree else ())]
    columns[WORKTREE_AT:WORKTREE_AT] = before_task
    if recovery:
        columns.insert(2, RECOVERY_COLUMNS[0])
    return columns


def _recovery_inputs(view: AgentView, now: float) -> tuple[object, ...]:
    life = None if view.life is None else (view.life[0], format_age(now - view.life[1]))
    return (recovery_label(view), view.condition, view.recovery, life, view.mttr, view.alive)


def _recovery_cells(view: AgentView, now: float, dark: bool) -> dict[str, str | Text]:
    label = recovery_label(view)
    if label is None and view.condition is not None:
        label = view.condition  # found, and nothing (more) is being done: the human was asked
    attention = label is not None and not label.startswith(RECOVERING_GLYPH)
    recovering = Text(label or "", style="bold " + state_color("error" if attention else "recovering", dark))
    life = "" if view.life is None else f"{LIFE_WORDS.get(view.life[0], view.life[0])} {format_age(now - view.life[1])}"
    outcome = "" if view.recovery is None else f"{view.recovery[2]}: {view.recovery[3]}"
    return {
        "recovery": recovering,
        "alive": Text(life, style="" if view.alive else "dim"),
        "outcome": Text(outcome),
        "mttr": "" if view.mttr is None else format_age(view.mttr),
    }
