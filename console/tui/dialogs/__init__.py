"""The console's modal screens: an approval in full, an agent's details, a command's arguments, the help."""

from agent_console.tui.dialogs.agent_details import AgentDetails
from agent_console.tui.dialogs.approval_details import ApprovalDetails
from agent_console.tui.dialogs.arguments_dialog import ArgumentsDialog
from agent_console.tui.dialogs.help_screen import HelpScreen

__all__ = ["AgentDetails", "ApprovalDetails", "ArgumentsDialog", "HelpScreen"]
