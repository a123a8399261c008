"""The console: the Textual app in the executive pane, over one supervisor.

The supervisor tells the app of every journaled record; the app coalesces them and refreshes its views a
few times a second at most. Widgets only display what they are given and post messages back.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from functools import partial
from pathlib import Path

from rich.text import Text
from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Header, Input, RichLog, Static, TextArea, Tree

from agent_console.agents.display import visible
from agent_console.agents.errors import ConsoleError
from agent_console.agents.journal import Record
from agent_console.agents.replay import parse_moment
from agent_console.agents.spans import TraceFilter
from agent_console.runtime import crash
from agent_console.runtime.commands import split_line
from agent_console.runtime.supervisor import Supervisor
from agent_console.terminal.base import BackendError
from agent_console.themes import CONSOLE_TCSS, team_color
from agent_console.themes.textual_themes import DARK_THEME, DARK_THEME_NAME, LIGHT_THEME, LIGHT_THEME_NAME
from agent_console.tui.commands import KEYS, ConsoleCommands
from agent_console.tui.dialogs.agent_details import AgentDetails
from agent_console.tui.dialogs.approval_details import ApprovalDetails
from agent_console.tui.dialogs.arguments_dialog import ArgumentsDialog
from agent_console.tui.dialogs.diff_view import DiffView
from agent_console.tui.dialogs.help_screen import HelpScreen
from agent_console.tui.executive import BuiltinExecutive, ModelChat
from agent_console.tui.replay import ReplayScreen, saw_text
from agent_console.widgets.agent_preview import HISTORY_LINES, AgentPreview
from agent_console.widgets.approval_preview import ApprovalPreview
from agent_console.widgets.approval_queue import COLUMNS as QUEUE_COLUMNS
from agent_console.widgets.approval_queue import ApprovalQueue
from agent_console.widgets.chat import ChatPanel
from agent_console.widgets.health_table import COLUMNS as HEALTH_COLUMNS
from agent_console.widgets.health_table import WORKTREE_COLUMN, HealthTable
from agent_console.widgets.org_tree import OrgNode, OrgTree
from agent_console.widgets.trace_view import TraceView

REFRESH_SECONDS = 0.2  # views refresh at most 5 times a second, however fast records come
AGE_SECONDS = 1.0  # ages in the queue and the table move on even when no record comes
TRACE_BATCH = 200
TRACE_STEP = 50  # records added to the trace in one step of a refresh (a step holds the event loop)
# Keys that reach the app this soon after a paste came in the same burst of input: a pasted end-of-paste
# sequence (ESC [ 201 ~) ends a bracketed paste early and turns the rest of the paste into key presses.
PASTE_TAIL_SECONDS = 0.05


# Below these the views take turns under the queue; up to WIDE_COLS the tree sits over the health table.
COMPACT_COLS = 100
COMPACT_ROWS = 30
WIDE_COLS = 140
# The views of the compact layout, in the order a human needs them (the queue is always on screen).
VIEWS = (("health", "Health"), ("tree", "Org"), ("chat", "Chat"), ("trace", "Trace"))
PREVIEW = "preview"  # the agent's screen: a view of its own when they take turns, beside the lists otherwise


def layout_for(width: int, height: int) -> str:
    """The layout class for a console pane of width x height cells: -compact, -medium or -wide."""
    if width < COMPACT_COLS or height < COMPACT_ROWS:
        return "-compact"
    return "-medium" if width < WIDE_COLS else "-wide"


FULL_COLLECTION_EVERY = 100  # middle-generation collections between two full ones (Python's default: 10)


def freeze_long_lived() -> tuple[int, int, int]:
    """Put what start-up left alive (modules, the org, the widgets) out of the garbage collector's sight: its
    full collections then scan only what came since, instead of stalling the event loop for hundreds of ms;
    and collect the oldest generation ten times less often (a refresh makes many short-lived objects).
    Returns the collector's thresholds before, for `thaw`."""
    before = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(before[0], before[1], FULL_COLLECTION_EVERY)
    return before


def thaw(thresholds: tuple[int, int, int]) -> None:
    """Undo `freeze_long_lived`: what was frozen can be collected again once the console is gone."""
    gc.unfreeze()
    gc.set_threshold(*thresholds)


RESULT_SECONDS = 30  # a `:` command's answer stays where the line was this long (or until escape)


class ConsoleApp(App[None]):
    """Org tree, health table, approval queue, chat with the executive, trace; one supervisor underneath."""

    TITLE = "agent-console"
    CSS_PATH = str(CONSOLE_TCSS)
    CSS = """
    #command-result {
        height: auto;
        max-height: 4;
        padding: 0 1;
        background: $boost;
    }
    #command-result.-failed {
        color: $text-warning;
    }
    #exposure {
        height: auto;
        padding: 0 1;
        background: $warning;
        color: $text;
        text-style: bold;
    }
    #fault {
        height: auto;
        padding: 0 1;
        background: $error;
        color: $text;
        text-style: bold;
    }
    """
    # Priority bindings act before the key reaches the focused widget, so the keys typed right behind one that
    # moves the focus (`/`, `:`, `c`, escape) land where it went; `check_action` lets them through to text
    # inputs and dialogs.
    BINDINGS = [
        Binding("ctrl+q", "quit", "quit", priority=True),
        *(Binding(key, f"command('{name}')", label, priority=True) for name, (key, label) in KEYS.items()),
        Binding("c", "focus_chat", "chat", priority=True),
        Binding("slash", "focus_chat('/')", show=False, priority=True),
        Binding("escape", "leave_input", show=False, priority=True),
    ]

    def __init__(
        self,
        supervisor: Supervisor,
        start_supervisor: bool = True,
        clock: Callable[[], float] = time.time,
        jump_back_key: str | None = None,
    ) -> None:
        super().__init__()
        self.supervisor = supervisor
        self.start_supervisor = start_supervisor
        self.clock = clock
        self.jump_back_key = jump_back_key
        self.commands = ConsoleCommands(supervisor.commands)
        self.executive = BuiltinExecutive(self)
        self.model_chat: ModelChat | None = None  # the model executive, once mounted (if the settings name one)
        # The trace gets at most the newest TRACE_BATCH records a refresh: more is a blur, and costs.
        self._records: collections.deque[Record] = collections.deque(maxlen=TRACE_BATCH)
        self._refresh_pending = False
        self._pasted_at: float | None = None
        self.view = VIEWS[0][0]
        self.views: dict[str, Widget] = {}  # view name -> its widget, once mounted
        self.register_theme(DARK_THEME)
        self.register_theme(LIGHT_THEME)
        self.theme = DARK_THEME_NAME  # before the stylesheet is read: it uses the theme's $frame
        self._last_list: Widget | None = None  # where escape goes back to from an input
        self.crash_log: Path | None = None  # set when an unexpected error ends the console
        self.crash_error: BaseException | None = None
        self._thresholds: tuple[int, int, int] | None = None  # the collector's, before the console froze start-up
        self.preview_on = False  # the preview beside the lists (medium and wide layouts)
        self.previewed: str | None = None  # the agent the lists' cursor is on: the one the preview shows
        self._view_before_preview = VIEWS[0][0]

    def compose(self) -> ComposeResult:
        yield Header()
        exposure = self.supervisor.boundary.exposure  # under the title, for as long as the console runs
        yield Static(f"⚠ {exposure}" if exposure else "", id="exposure", classes="" if exposure else "hidden")
        yield Static(id="fault", classes="hidden", markup=False)  # what stops the console accepting anything
        with Vertical(id="work"):
            yield ApprovalQueue(id="approvals")
            yield ApprovalPreview(id="request")
        yield Static(id="views")
        with Horizontal(id="main"):
            with Horizontal(id="agents"):
                yield OrgTree(id="tree")
                yield HealthTable(id="health")
            with Vertical(id="right"):
                yield AgentPreview(id="preview")
                yield ChatPanel(id="chat")
                yield TraceView(id="trace")
        yield Input(placeholder=":command (help lists them)", id="command-line", classes="hidden")
        yield Footer()

    def on_mount(self) -> None:
        # The views live on the main screen; a dialog on top must not hide them from the refresh.
        self.org_view = self.query_one(OrgTree)
        self.health_view = self.query_one(HealthTable)
        self.queue_view = self.query_one(ApprovalQueue)
        self.chat_view = self.query_one(ChatPanel)
        self.trace_view = self.query_one(TraceView)
        self.preview = self.query_one(ApprovalPreview)
        self.agent_preview = self.query_one(AgentPreview)
        self.views = {
            "health": self.health_view,
            "tree": self.org_view,
            "chat": self.chat_view,
            "trace": self.trace_view,
        }
        self.command_input = self.query_one("#command-line", Input)
        self._fit(self.size.width, self.size.height)
        self.show_view(self.view)
        self.set_interval(AGE_SECONDS, self._tick_ages)
        self.command_result = Static("", id="command-result", classes="hidden", markup=False)
        self.mount(self.command_result, after=self.command_input)
        self.supervisor.listeners.append(self._on_record)
        self.supervisor.focus_listeners.append(self._on_focus)
        self.supervisor.status_listeners.append(self._on_focus)  # worktrees read anew: a refresh, as for focus
        self.supervisor.fault_listeners.append(self._on_fault)
        self.supervisor.failure_listeners.append(self._on_failure)
        self.supervisor.screens.screen_listeners.append(self._on_screen)
        self.supervisor.typist.note_listeners.append(partial(self.chat_view.add_line, "console"))  # typed, delivered
        self.supervisor.standing.note_listeners.append(partial(self.chat_view.add_line, "executive"))  # tasks fired
        self.supervisor.exec_relay.reply_listeners.append(self.chat_view.add_line)  # an exec agent's replies
        # the views colour states for a dark or a light background: on a theme change they are drawn again
        self.theme_changed_signal.subscribe(self, lambda _theme: self.refresh_views())
        self.chat_view.add_line(self.executive.name, "Ready. @agent text, #team text, /help.")
        self.model_chat = ModelChat.start(self, self.supervisor, self.chat_view, self.executive)
        if self.model_chat.said:
            self.chat_view.add_line("console", self.model_chat.said)
        if self.start_supervisor:
            self._start()
        else:
            self._records.extend(self.supervisor.recent_records())
            self.refresh_views()
        self.focus_lists()  # not a text input: y and n answer requests from the start

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Paste):
            self._pasted_at = event.time
        elif (
            isinstance(event, events.Key)
            and self._pasted_at is not None
            and event.time - self._pasted_at < PASTE_TAIL_SECONDS
        ):
            return  # the tail of a paste is text, never a hotkey (y, n, A…)
        await super().on_event(event)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """A toast; its text often quotes an agent, so it is shown as text (never markup), controls visible."""
        super().notify(
            visible(message, multiline=True), title=visible(title), severity=severity, timeout=timeout, markup=markup
        )

    @work(exclusive=True, group="supervisor")
    async def _start(self) -> None:
        # what earlier runs journaled; what this start journals reaches the trace through the listener
        self._records.extend(self.supervisor.recent_records())
        try:
            report = await self.supervisor.start()
        except Exception as error:  # shown, not a traceback: the console stays up to say what failed
            self.notify(f"could not start the org: {error}", severity="error", timeout=30)
            return
        for window, strangers in report.not_laid_out.items():
            self.notify(
                f"window {window} also holds {', '.join(strangers)}, which the org chart does not place: "
                "its panes keep their sizes until those are closed",
                severity="warning",
                timeout=15,
            )
        for notice in self.supervisor.notices:
            self.notify(notice, timeout=15)
        if report.orphans:
            self.notify(
                f"running but not in the org: {', '.join(report.orphans)}; /adopt NAME (or /adopt all) takes them back",
                severity="warning",
                timeout=15,
            )
        if report.missing:
            programs = ", ".join(f"{agent}'s {program!r}" for agent, program in report.missing.items())
            self.notify(f"program not found (not on PATH): {programs}", severity="error", timeout=30)
        if self.jump_back_key and self.supervisor.exec_pane:
            try:
                await self.supervisor.backend.install_jump_back(self.jump_back_key, self.supervisor.exec_pane)
            except BackendError as error:
                self.notify(f"could not bind {self.jump_back_key} to come back here: {error}", severity="warning")
        self.refresh_views()
        self._thresholds = freeze_long_lived()

    def _on_failure(self) -> None:
        """A supervisor that stops on its own (a task failed, the terminal went away) ends the console, saying why."""
        self.exit(return_code=1, message=f"agent-console: error: {self.supervisor.failure}")

    def _on_fault(self) -> None:
        """The journal cannot be written (or can again): a banner says so while it lasts."""
        banner = self.query_one("#fault", Static)
        paused = self.supervisor.paused
        banner.update(f"⚠ {paused}" if paused else "")
        banner.set_class(paused is None, "hidden")
        if paused is None:
            self.notify("the journal can be written again: the console accepts requests again")

    async def on_unmount(self) -> None:
        if self.model_chat is not None:
            await self.model_chat.close()
        if self._thresholds is not None:
            thaw(self._thresholds)
            self._thresholds = None
        if self.start_supervisor:
            with contextlib.suppress(BackendError):  # the console's keys leave the terminal with it
                await self.supervisor.backend.remove_jump_back()
            await self.supervisor.stop()
            await self.supervisor.backend.close()

    # --- errors nobody expected -------------------------------------------------------------------------

    def _handle_exception(self, error: Exception) -> None:
        """An error nothing caught ends the console: the traceback goes to a log file, and the terminal gets
        one paragraph naming it (see `start`), not Textual's screenful of traceback."""
        if self.crash_error is None:
            self.crash_error = error
            with contextlib.suppress(OSError):
                self.crash_log = crash.write_log(self.supervisor.org.name, error)
        super()._handle_exception(error)

    def _fatal_error(self) -> None:
        if self.crash_log is None:  # no log could be written: the traceback is shown instead
            super()._fatal_error()
            return
        self._close_messages_no_wait()

    # --- state → views (coalesced) --------------------------------------------------------------------

    def _on_record(self, record: Record) -> None:
        self._records.append(record)
        self._schedule_refresh()

    def _on_focus(self) -> None:
        self._schedule_refresh()

    def _schedule_refresh(self) -> None:
        if not self._refresh_pending:
            self._refresh_pending = True
            self.set_timer(REFRESH_SECONDS, self._refresh_in_steps)

    def refresh_views(self) -> None:
        """Update every view from the supervisor's state, now (all steps in one go)."""
        with self.batch_update():
            for _ in self._refresh_steps():
                pass

    def _refresh_in_steps(self) -> None:
        """The coalesced refresh, one view a message: a key pressed meanwhile is handled (and painted) between
        views, not after all of them."""
        self._refresh_step(self._refresh_steps())

    def _refresh_step(self, steps: Iterator[None]) -> None:
        if next(steps, StopIteration) is not StopIteration:
            self.call_later(self._refresh_step, steps)  # queued behind what came meanwhile (keys)

    def _refresh_steps(self) -> Iterator[None]:
        self._refresh_pending = False
        if not self.org_view.is_attached:
            return  # shutting down: a last record arrived after the screen went
        state = self.supervisor.state
        now = self.clock()
        org = self.supervisor.org
        colors = {team.name: team_color(index, team.color) for index, team in enumerate(org.teams)}
        self.org_view.update_org(state, colors, frozenset(self.supervisor.human_at()))
        yield
        if not self.health_view.is_attached:
            return
        yield from self.health_view.update_health_in_steps(state, now, worktrees=self.supervisor.worktree_shown)
        yield
        self._follow_preview()
        if not self.queue_view.is_attached:
            return
        self.queue_view.update_approvals(list(state.approvals.values()), now)
        self.preview.show(self.queue_view.selected_approval)
        left = len(self._records)  # those that came by now: a flood meanwhile waits for the next refresh
        while left and self._records:
            yield
            if not self.trace_view.is_attached:
                return
            batch = [self._records.popleft() for _ in range(min(TRACE_STEP, left, len(self._records)))]
            left -= len(batch)
            self.trace_view.add_records(batch)
        counts: dict[str, int] = {}
        for view in state.agents.values():
            counts[view.state.value] = counts.get(view.state.value, 0) + 1
        figures = " · ".join(f"{count} {name}" for name, count in sorted(counts.items()))
        self.sub_title = (
            # pending first: it is the human's job, and a narrow header cuts the end
            f"{org.name} — {len(state.approvals)} pending — {len(state.agents)} agents: {figures or 'none'}"
        )

    # --- commands ---------------------------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The command palette offers every registered command, next to Textual's own."""
        yield from super().get_system_commands(screen)
        for command in self.commands:
            yield SystemCommand(command.name, command.description, partial(self.run_from_palette, command.name))
        for name in self.supervisor.known_arrangements:
            load = partial(self.run_line_from_palette, f"arrangement load {name}")
            yield SystemCommand(f"arrangement load {name}", "lay the windows out as this arrangement says", load)

    def run_line_from_palette(self, line: str) -> None:
        self.run_worker(self._toast(self.commands.run_line(self, line, "palette")))

    def run_from_palette(self, name: str) -> None:
        """A command that takes arguments asks for them first; the others run at once."""
        command = self.commands.listed(name)
        if command is None:
            return
        if not command.asks:
            self.run_worker(self._toast(self.commands.run(self, name, [], "palette")))
            return

        async def given(text: str | None) -> None:
            if text is None:
                return
            try:
                words = split_line(text)
            except ConsoleError as error:
                self.notify(f"{name}: {error}", severity="warning")
                return
            await self._toast(self.commands.run(self, name, words, "palette"))

        self.push_screen(ArgumentsDialog(name, command.usage, command.description), given)

    async def action_command(self, name: str) -> None:
        await self._toast(self.commands.run(self, name, [], "key"))

    async def _toast(self, running: Awaitable[str | None]) -> None:
        """Run a command and show its answer (or what went wrong) as a notification."""
        try:
            said = await running
        except ConsoleError as error:
            self.notify(str(error), severity="warning", timeout=15)
            return
        if said:
            self.notify(said)

    def open_command_line(self) -> None:
        self.command_result.add_class("hidden")
        line = self.command_input
        line.remove_class("hidden")
        line.value = ""
        self.screen.set_focus(line)  # now: the keys typed right after `:` belong to the line

    def action_leave_input(self) -> None:
        """Escape: stop the model's reply if one streams in; else close the `:` line (and its last answer) and
        leave any text input for the lists."""
        if self.model_chat is not None and self.model_chat.stop():
            return
        self.command_result.add_class("hidden")
        self.command_input.add_class("hidden")
        if self.focused is None or isinstance(self.focused, Input | TextArea):
            self.focus_lists()

    def focus_lists(self) -> None:
        """Focus the list that had the focus last (the health table at first)."""
        target = self._last_list if self._last_list is not None and self._last_list.display else self.health_view
        target.screen.set_focus(target)  # now: a key typed right after escape acts on the list

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if isinstance(event.widget, OrgTree | HealthTable | ApprovalQueue):
            self._last_list = event.widget
        self._preview_agent(self._cursor_agent(event.widget))  # the list in use says whose screen is shown

    def action_focus_chat(self, start: str = "") -> None:
        if start == "/" and self.focused is self.trace_view:
            self.search_trace()  # `/` in the trace searches it
            return
        self.chat_view.focus_input(start)

    def search_trace(self) -> None:
        """Open the `:` line on `trace /`: what is typed next narrows the trace to the traces that mention it."""
        self.open_command_line()
        self.command_input.value = "trace /"
        self.call_after_refresh(self.command_input.action_end)  # after the focus selected it all: type after it

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The console's keys act on the main screen only, and single keys type, not act, in a text input."""
        if action in ("command", "focus_chat", "leave_input") and self.screen is not self.screen_stack[0]:
            return False  # a dialog or the palette: its own keys
        return not (action in ("command", "focus_chat") and self.typing())

    def typing(self) -> bool:
        return isinstance(self.focused, Input | TextArea)

    @on(Input.Submitted, "#command-line")
    async def _command_line(self, event: Input.Submitted) -> None:
        self.command_input.add_class("hidden")
        self.focus_lists()
        try:
            said = await self.commands.run_line(self, event.value.lstrip(":"), "line")
        except ConsoleError as error:
            self._show_result(str(error), failed=True)
            return
        if said:
            self._show_result(said)

    def _show_result(self, text: str, failed: bool = False) -> None:
        """A `:` command's answer, where the line was: the user is looking there."""
        result = self.command_result
        result.update(text)
        result.set_class(failed, "-failed")
        result.remove_class("hidden")
        self.set_timer(RESULT_SECONDS, partial(self._hide_result, text))

    def _hide_result(self, text: str) -> None:
        if str(self.command_result.content) == text:  # not a newer answer
            self.command_result.add_class("hidden")

    @on(ChatPanel.Submitted)
    async def _chat(self, event: ChatPanel.Submitted) -> None:
        chat = self.chat_view
        chat.add_line("you", self.supervisor.redactor.text(event.text))  # the chat history keeps no secret
        if self.model_chat is not None and self.model_chat.takes(event.text):
            self.model_chat.ask(event.text)
            return
        chat.add_line(self.executive.name, await self.executive.answer(event.text))

    # --- approvals --------------------------------------------------------------------------------------

    async def decide(self, approval_id: str, approved: bool, always: bool = False) -> str:
        """Decide one request, as the `approve`/`deny` commands do (from the details dialog); what happened."""
        name = "approve-always" if always else "approve" if approved else "deny"
        try:
            said = await self.commands.run(self, name, [approval_id], "key")
        except ConsoleError as error:
            return str(error)
        self.refresh_views()
        return said or ""

    def show_diff(self, agent: str, diff: str) -> None:
        self.push_screen(DiffView(agent, diff))

    def show_replay(self, moment: str | None) -> None:
        """`:replay [TIME]`: the org's own journal, read-only, over the live views (q goes back to them)."""
        at = parse_moment(moment) if moment else None  # a wrong moment is said before anything opens
        records = self.supervisor.recent_records(limit=None)
        store = self.supervisor.snapshots.store
        self.push_screen(ReplayScreen(records, self.supervisor.journal_path, at, snapshots=store))

    def show_details(self) -> None:
        approval_id = self.queue_view.selected_id
        pending = self.supervisor.state.approvals.get(approval_id or "")
        if pending is None:
            self.notify("no pending request")
            return

        async def answered(approved: bool | None) -> None:
            if approved is not None:
                self.notify(await self.decide(pending.id, approved))

        identical = len(self.queue_view.identical_to(pending.id))
        self.push_screen(ApprovalDetails(pending, now=self.clock(), identical=identical), answered)

    @on(ApprovalQueue.ShowDetails)
    def _details(self, event: ApprovalQueue.ShowDetails) -> None:
        self.show_details()

    @on(HealthTable.ShowAgent)
    def _agent_details(self, event: HealthTable.ShowAgent) -> None:
        view = self.supervisor.state.agents.get(event.agent)
        if view is not None:
            taken = self.supervisor.state.snapshots.get(event.agent)
            saw = None if taken is None else (taken, saw_text(self.supervisor.snapshots.store, taken))
            self.push_screen(AgentDetails(view, now=self.clock(), saw=saw))

    @on(ApprovalQueue.Selected)
    def _selected(self, event: ApprovalQueue.Selected) -> None:
        self.preview.show(self.queue_view.selected_approval)

    def _tick_ages(self) -> None:
        if not self.queue_view.is_attached:
            return
        state = self.supervisor.state
        now = self.clock()
        with self.batch_update():
            self.queue_view.update_approvals(list(state.approvals.values()), now)
            self.health_view.update_health(state, now, worktrees=self.supervisor.worktree_shown)

    # --- layout -----------------------------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        self._fit(event.size.width, event.size.height)

    def _fit(self, width: int, height: int) -> None:
        layout = layout_for(width, height)
        for name in ("-compact", "-medium", "-wide"):
            self.set_class(name == layout, name)

    def show_view(self, view: str) -> None:
        """Make `view` (health, tree, chat or trace) the one under the queue when the views take turns."""
        self.view = view
        for name, _ in (*VIEWS, (PREVIEW, "")):
            self.set_class(name == view, f"-show-{name}")
        bar = Text()
        for name, label in (*VIEWS, (PREVIEW, "Preview")):
            if name != PREVIEW or view == PREVIEW:
                bar.append(f" {label} ", style="reverse bold" if name == view else "")
        bar.append("   v next view · p preview", style="dim")
        self.query_one("#views", Static).update(bar)

    def next_view(self) -> None:
        """Show the next view and move the focus into it (the chat's log, not its input: keys stay keys)."""
        names = [name for name, _ in VIEWS]
        view = names[(names.index(self.view) + 1) % len(names)] if self.view in names else self._view_before_preview
        self.show_view(view)
        widget = self.views[view]
        target = widget.query_one(RichLog) if isinstance(widget, ChatPanel) else widget
        target.focus()

    @on(events.DescendantFocus)
    def _follow_focus(self, event: events.DescendantFocus) -> None:
        """Whatever takes the focus (a key, Tab, a click) is shown: a focused view is never a hidden one."""
        for name, view in self.views.items():
            if event.widget is view or view in event.widget.ancestors:
                if name != self.view:
                    self.show_view(name)
                return
        if self.agent_preview in event.widget.ancestors and self.has_class("-compact") and self.view != PREVIEW:
            self.show_view(PREVIEW)

    # --- the preview ------------------------------------------------------------------------------------

    def preview_open(self) -> bool:
        return self.view == PREVIEW if self.has_class("-compact") else self.preview_on

    def toggle_preview(self) -> str | None:
        """Show the selected agent's screen (beside the lists, or as the view when they take turns), or hide it."""
        if self.has_class("-compact"):
            if self.view == PREVIEW:
                self.show_view(self._view_before_preview)
                self.focus_lists()
                return None
            self._view_before_preview = self.view
            self.show_view(PREVIEW)
        else:
            self.preview_on = not self.preview_on
            self.set_class(self.preview_on, "-preview-on")
            if not self.preview_on:
                return None
        if self.previewed is None:
            names = self.health_view.agent_names
            self.previewed = names[0] if names else None
        self._follow_preview(load=True)
        if self.has_class("-compact"):
            self.agent_preview.screen_view.focus()
        return None if self.previewed else "no agent to preview"

    def _follow_preview(self, load: bool = False) -> None:
        """The preview's state line from the state; a new agent (or `load`) starts from a capture of its pane."""
        if not self.preview_open():
            return
        view = self.supervisor.state.agents.get(self.previewed or "")
        changed = (view.name if view else None) != self.agent_preview.agent
        self.agent_preview.show_agent(view)
        if view is not None and (changed or load):
            self._load_preview(view.name)

    @work(group="preview", exclusive=True)
    async def _load_preview(self, agent: str) -> None:
        """One capture, scrollback included, when the preview opens or its agent changes; then the screens come
        from the supervisor's own reads."""
        view = self.supervisor.state.agents.get(agent)
        if view is None or view.pane is None:  # a buried agent has one, off screen: it is shown all the same
            self.agent_preview.load(agent, f"({agent} has no pane: nothing to show)")
            return
        try:
            capture = await self.supervisor.backend.capture(view.pane, history=HISTORY_LINES)
        except BackendError as error:
            self.agent_preview.load(agent, f"(could not read {agent}'s screen: {error})")
            return
        self.agent_preview.load(agent, self.supervisor.redactor.text(capture))

    def _on_screen(self, agent: str, screen: str) -> None:
        """A screen the supervisor read: shown when it is the previewed agent's (secrets redacted first)."""
        if agent == self.previewed and self.preview_open() and self.agent_preview.agent == agent:
            self.agent_preview.update_screen(agent, self.supervisor.redactor.text(screen))

    def _preview_agent(self, agent: str | None) -> None:
        if agent is not None and agent != self.previewed:
            self.previewed = agent
            self._follow_preview()

    def _cursor_agent(self, widget: Widget) -> str | None:
        """The agent under `widget`'s cursor, when it is the health table or the org tree."""
        if isinstance(widget, HealthTable) and widget.row_count:
            return widget.agent_names[min(max(widget.cursor_row, 0), widget.row_count - 1)]
        if isinstance(widget, OrgTree) and widget.cursor_node is not None:
            data = widget.cursor_node.data
            return data.name if isinstance(data, OrgNode) and data.kind == "agent" else None
        return None

    @on(DataTable.RowHighlighted, "#health")
    def _health_cursor(self, event: DataTable.RowHighlighted) -> None:
        if self.health_view.has_focus:  # the human moved it (a refresh moving rows about is not a choice)
            self._preview_agent(event.row_key.value)

    @on(Tree.NodeHighlighted, "#tree")
    def _tree_cursor(self, event: Tree.NodeHighlighted) -> None:
        data = event.node.data
        if self.org_view.has_focus and isinstance(data, OrgNode) and data.kind == "agent":
            self._preview_agent(data.name)

    @on(AgentPreview.HistoryWanted)
    def _history_wanted(self, event: AgentPreview.HistoryWanted) -> None:
        """Output went by faster than screens were read, and the human scrolls back: the pane's own scrollback."""
        if event.agent == self.previewed:
            self._load_preview(event.agent)

    @on(AgentPreview.JumpTo)
    async def _jump_from_preview(self, event: AgentPreview.JumpTo) -> None:
        await self.jump_to(event.agent)

    # --- focus ------------------------------------------------------------------------------------------

    @on(OrgTree.AgentSelected)
    @on(HealthTable.AgentSelected)
    async def _jump(self, event: OrgTree.AgentSelected | HealthTable.AgentSelected) -> None:
        await self.jump_to(event.agent)

    async def jump_to(self, agent: str) -> None:
        try:
            await self.supervisor.select(agent)
        except KeyError:
            self.notify(f"{agent} has no pane", severity="warning")
            return
        except BackendError as error:
            self.notify(f"could not jump to {agent}: {error}", severity="error")
            return
        back = f" ({self.jump_back_key} comes back)" if self.jump_back_key else ""
        self.notify(f"jumped to {agent}{back}")
        self.trace_view.filter_agent(agent)

    # --- help and themes ----------------------------------------------------------------------------------

    def _description(self, name: str) -> str:
        listed = self.commands.listed(name)
        return listed.description if listed is not None else ""

    def binding_rows(self) -> list[tuple[str, str, str]]:
        rows = [
            (
                self.get_key_display(Binding(key, name)),
                self._description(name),
                "anywhere but a text input",
            )
            for name, (key, _) in KEYS.items()
        ]
        rows += [
            ("c", "type in the chat", "anywhere but a text input"),
            ("/", "type a /command in the chat; in the trace: search it", "anywhere but a text input"),
            ("enter", "on an agent: jump to its pane; on a request: show it in full", "tree, table, queue, preview"),
            ("i", "on an agent: its state and the evidence behind it", "health table"),
            ("ctrl+p", "command palette (asks for a command's arguments)", "anywhere"),
            ("escape", "leave the chat or the : line for the lists; close a dialog", "anywhere"),
            ("ctrl+q", "quit the console (the agents keep running)", "anywhere"),
        ]
        if self.jump_back_key:
            rows.append((self.jump_back_key, "jump back to this pane from an agent's pane (tmux key)", "any pane"))
        rows += [
            (f":{command.name}", command.usage or command.description, ": line, chat /") for command in self.commands
        ]
        return rows

    def filter_trace(self, agent: str | None) -> None:
        self.trace_view.filter_agent(agent)

    def filter_trace_by(self, wanted: TraceFilter) -> None:
        self.trace_view.filter(wanted)

    def show_help(self) -> None:
        columns = [("Health", label, meaning) for _, label, _, meaning in (*HEALTH_COLUMNS, WORKTREE_COLUMN)]
        columns += [("Approvals", label, meaning) for _, label, _, meaning in QUEUE_COLUMNS]
        self.push_screen(HelpScreen(self.binding_rows(), columns))

    def toggle_theme(self) -> str:
        self.theme = LIGHT_THEME_NAME if self.theme == DARK_THEME_NAME else DARK_THEME_NAME
        return f"theme: {'light' if self.theme == LIGHT_THEME_NAME else 'dark'}"
