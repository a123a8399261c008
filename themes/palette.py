"""Team colours: a palette that stays readable as a border and as a faint pane tint."""

TEAM_PALETTE = (
    "#3b82f6",  # blue
    "#f59e0b",  # amber
    "#10b981",  # emerald
    "#ec4899",  # pink
    "#8b5cf6",  # violet
    "#ef4444",  # red
    "#14b8a6",  # teal
    "#eab308",  # yellow
)
EXEC_COLOR = "#e5e7eb"


def team_color(index: int, chosen: str | None = None) -> str:
    """The colour the spec chose, else the palette's colour for the team's position in the spec."""
    return chosen or TEAM_PALETTE[index % len(TEAM_PALETTE)]
