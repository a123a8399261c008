"""The console's Textual themes, registered by the app (`App.register_theme`).

Each defines `$frame`, the colour of the panels' borders: visible on that theme's surface.
"""

from __future__ import annotations

from textual.theme import Theme

DARK_THEME_NAME = "agent-console-dark"
LIGHT_THEME_NAME = "agent-console-light"

DARK_THEME = Theme(
    name=DARK_THEME_NAME,
    primary="#3b82f6",
    secondary="#8b5cf6",
    accent="#f59e0b",
    warning="#f59e0b",
    error="#ef4444",
    success="#22c55e",
    foreground="#e5e7eb",
    background="#0b0f17",
    surface="#111827",
    panel="#1f2937",
    dark=True,
    variables={"frame": "#404a59"},
)

LIGHT_THEME = Theme(
    name=LIGHT_THEME_NAME,
    primary="#1d4ed8",
    secondary="#6d28d9",
    accent="#b45309",
    warning="#b45309",
    error="#b91c1c",
    success="#15803d",
    foreground="#111827",
    background="#f9fafb",
    surface="#ffffff",
    panel="#e5e7eb",
    dark=False,
    variables={"frame": "#9ca3af"},
)

THEMES = (DARK_THEME, LIGHT_THEME)
