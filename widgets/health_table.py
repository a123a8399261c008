"""Every agent's health in one keyed table: state, task, time since it was last heard of, restarts, approvals."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.message import Message
from textual.widgets import DataTable

from agent_console.agents.events import AgentState
from agent_console.agents.state import AgentView, OrgState
from agent_console.themes.states import state_color

from .formatting import agent_text, cell_key, format_age, grows, is_dark, state_text

# a narrow pane crops the right-hand columns first: the short figures come before the task, and the team
# (which the org tree shows too) comes last
COLUMNS = (
    ("agent", "Agent"),
    ("state", "State"),
    ("last", "Last"),
    ("approvals", "Pending"),
    ("restarts", "Restarts"),
    ("task", "Task"),
    ("team", "Team"),
)


class HealthTable(DataTable[str | Text]):
    """One row per agent, keyed by its name: agent, state, time since last heard of, pending approvals, restarts,
    task, team. `update_health` touches only the cells whose value changed."""

    BORDER_TITLE = "Health"
    TASK_WIDTH = 32

    class AgentSelected(Message):
        """An agent's row was chosen (enter or click)."""

        def __init__(self, agent: str) -> None:
            super().__init__()
            self.agent = agent

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, name=name, id=id, classes=classes)
        self._values: dict[str, tuple[str | Text, ...]] = {}

    def on_mount(self) -> None:
        self._add_columns()

    def _add_columns(self) -> None:
        if not self.columns:
            for key, label in COLUMNS:
                self.add_column(label, key=key)

    @property
    def agent_names(self) -> list[str]:
        """The agents shown, top to bottom."""
        return [str(row.key.value) for row in self.ordered_rows]

    def update_health(self, state: OrgState, now: float) -> None:
        """Show `state`, with ages measured at `now` (seconds since the epoch)."""
        pending: dict[str, int] = {}
        for approval in state.approvals.values():
            pending[approval.agent] = pending.get(approval.agent, 0) + 1
        self._add_columns()
        with self.app.batch_update():
            for agent in [agent for agent in self._values if agent not in state.agents]:
                del self._values[agent]
                self.remove_row(agent)
            for agent, view in state.agents.items():
                values = self._row(view, pending.get(agent, 0), now)
                previous = self._values.get(agent)
                if previous is None:
                    self.add_row(*values, key=agent)
                else:
                    for (column, _), old, new in zip(COLUMNS, previous, values, strict=True):
                        if cell_key(old) != cell_key(new):
                            self.update_cell(agent, column, new, update_width=grows(self, column, new))
                self._values[agent] = values

    def _row(self, view: AgentView, pending: int, now: float) -> tuple[str | Text, ...]:
        age = None if view.last_event is None else now - view.last_event
        dark = is_dark(self)
        return (
            Text(view.name, style="bold" if view.alive else "dim"),
            self._state(view, now, dark),
            format_age(age),
            Text(str(pending), style="bold " + state_color("waiting", dark)) if pending else "",
            Text(str(view.restarts), style="bold " + state_color("recovering", dark) if view.restarts else "dim"),
            agent_text(view.task or "", self.TASK_WIDTH),
            view.team or "",
        )

    @staticmethod
    def _state(view: AgentView, now: float, dark: bool) -> Text:
        """The state, flagged when its screen has not moved for a while, and with what the screen shows
        when that differs (the agent's own report or its hook is trusted over its screen)."""
        text = state_text(view.state, dark=dark)
        if view.stalled_since is not None:
            text.append(f" · stuck {format_age(now - view.stalled_since)}", style="bold " + state_color("error", dark))
        screen = view.screen_state
        if screen is not None and screen not in (view.state, AgentState.UNKNOWN):
            text.append(f" · screen: {screen.value}", style="dim")
        return text

    @on(DataTable.RowSelected)
    def _row_chosen(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.AgentSelected(event.row_key.value))
