"""Presentation only: one widget per view. They receive state and post messages; they do no I/O."""

from .approval_preview import ApprovalPreview
from .approval_queue import ApprovalQueue
from .chat import ChatPanel
from .health_table import HealthTable
from .org_tree import OrgTree
from .trace_view import TraceView

__all__ = [
    "ApprovalPreview",
    "ApprovalQueue",
    "ChatPanel",
    "HealthTable",
    "OrgTree",
    "TraceView",
]
