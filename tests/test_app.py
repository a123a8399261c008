"""The console app over a real supervisor: snapshots of its screens and Pilot flows through its front doors.

Each test pre-writes the org's journal with fixed times, then builds a `Supervisor` over it (it replays the
journal) and a `ConsoleApp` with `start_supervisor=False` and a fixed clock: no tmux, no control socket, and
ages and times that do not move. Times are shown in UTC (the fixture sets TZ).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from textual.command import CommandPalette
from textual.widgets import Input

from agent_console.agents.events import (
    HUMAN,
    SUPERVISOR,
    AgentExited,
    AgentLaunched,
    AgentState,
    ApprovalDecided,
    ApprovalRequested,
    Event,
    MessageSent,
    OrgLoaded,
    StatusReported,
)
from agent_console.agents.journal import Journal, Record, load_or_create_key
from agent_console.agents.model import Agent, Org, Team
from agent_console.console import paths
from agent_console.console.app import ConsoleApp
from agent_console.console.demo import demo_org
from agent_console.console.supervisor import Supervisor
from agent_console.console.terminal.tmux import TmuxBackend
from agent_console.themes.textual_themes import DARK_THEME_NAME, LIGHT_THEME_NAME
from agent_console.widgets import ApprovalDetails, ApprovalQueue, ChatPanel, HealthTable, HelpScreen, OrgTree

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
NOW = T0 + 900  # the app's clock: 22:28:20 UTC
SIZE = (120, 40)
