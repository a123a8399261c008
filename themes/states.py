"""How each agent state looks: a glyph and a colour, shared by the widgets and the pane styling.

Stdlib only, so the console can style tmux panes without importing Textual.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StateStyle:
    """The look of one agent state: a one-cell glyph, `#rrggbb` colours for dark and light backgrounds, dimmed
    or not."""

    glyph: str
    color: str
    light_color: str
    dim: bool = False

    def color_on(self, dark: bool = True) -> str:
        return self.color if dark else self.light_color

    def rich_style(self, dark: bool = True) -> str:
        color = self.color_on(dark)
        return f"{color} dim" if self.dim else color


# Keyed by the state's value: `AgentState` is a StrEnum, so its members look these up directly
# (themes/ may not import agent_console.agents).
STATE_STYLES: dict[str, StateStyle] = {
    "idle": StateStyle("○", "#9ca3af", "#6b7280"),
    "thinking": StateStyle("◔", "#06b6d4", "#0e7490"),
    "working": StateStyle("●", "#22c55e", "#15803d"),
    "waiting": StateStyle("◆", "#f59e0b", "#b45309"),
    "error": StateStyle("✖", "#ef4444", "#b91c1c"),
    "recovering": StateStyle("↻", "#d946ef", "#a21caf"),
    "offline": StateStyle("·", "#6b7280", "#6b7280", dim=True),
    "unknown": StateStyle("?", "#6b7280", "#6b7280", dim=True),
}
UNKNOWN_STYLE = STATE_STYLES["unknown"]


def state_style(state: str) -> StateStyle:
    """The style of `state` (an `AgentState` or its value); unknown values look like `unknown`."""
    return STATE_STYLES.get(str(state), UNKNOWN_STYLE)


def state_glyph(state: str) -> str:
    return state_style(state).glyph


def state_color(state: str, dark: bool = True) -> str:
    """The state's colour as `#rrggbb` (for tmux `bg=`/`fg=` styles as well as Rich), for a dark or light background."""
    return state_style(state).color_on(dark)
