"""Presentation only: one widget per view. They receive state and post messages; they do no I/O."""

from .agent_details import AgentDetails
from .approval_details import ApprovalDetails
from .approval_preview import ApprovalPreview
from .approval_queue import ApprovalQueue
from .chat import ChatPanel
from .health_table import HealthTable
from .help_screen import HelpScreen
from .org_tree import OrgTree
from .trace_view import TraceView

__all__ = [
    "AgentDetails",
    "ApprovalDetails",
    "ApprovalPreview",
    "ApprovalQueue",
    "ChatPanel",
    "HealthTable",
    "HelpScreen",
    "OrgTree",
    "TraceView",
]
