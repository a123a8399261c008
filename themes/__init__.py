"""Team palettes, state colours and glyphs, Textual themes (`textual_themes`) and the console's stylesheet.

Importing the package stays stdlib-only; the Textual themes live in `agent_console.themes.textual_themes`.
"""

from pathlib import Path

from agent_console.themes.palette import EXEC_COLOR, TEAM_PALETTE, team_color
from agent_console.themes.states import STATE_STYLES, StateStyle, state_color, state_glyph, state_style

CONSOLE_TCSS = Path(__file__).with_name("console.tcss")
"""The main screen's layout stylesheet: the app's `CSS_PATH`."""

__all__ = [
    "CONSOLE_TCSS",
    "EXEC_COLOR",
    "STATE_STYLES",
    "TEAM_PALETTE",
    "StateStyle",
    "state_color",
    "state_glyph",
    "state_style",
    "team_color",
]
