"""Structured logs: the console's own logging, its journal and its agents' reports, as JSON lines in one stream.

One file in the org's state directory (`console.log.jsonl`), rotated at `MAX_BYTES` with `BACKUPS` older files
kept, so it stays bounded. Each line: `time` (ISO-8601, UTC), `level`, `logger`, `message`, and when known the
`trace` and `span` of what it belongs to, the journal `seq` and the `agent`. The console's own loggers
(`agent_console.*`) write there at `--log-level`; every journal record is one line (logger `journal`); an agent's
`emit log` is one line at its own level (logger `agent`). Whatever an agent wrote is untrusted: it is cut to
`MESSAGE_CHARS` and its control characters are written as visible markers. Writing happens on a thread of its
own: the event loop only queues.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import logging.handlers
import os
import queue
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent_console.agents.display import visible
from agent_console.agents.errors import InvalidInput
from agent_console.agents.events import LogRecorded
from agent_console.agents.journal import Record

LOG_FILE = "console.log.jsonl"
MAX_BYTES = 4 * 1024 * 1024
BACKUPS = 3  # the stream holds at most (BACKUPS + 1) * MAX_BYTES
MESSAGE_CHARS = 2000
LEVELS = ("debug", "info", "warning", "error")
ROOT_LOGGER = "agent_console"
JOURNAL_LOGGER = "journal"
AGENT_LOGGER = "agent"
_EVENT_FIELDS_CHARS = 300  # a journal record's fields, as one line, cut to this


def level_number(name: str) -> int:
    if name.lower() not in LEVELS:
        raise InvalidInput(f"log level {name!r}: use one of {', '.join(LEVELS)}")
    return logging.getLevelNamesMapping()[name.upper()]


def log_files(folder: Path) -> list[Path]:
    """The stream's files in a state directory, oldest first (`console.log.jsonl.3` … `console.log.jsonl`)."""
    base = Path(folder) / LOG_FILE
    older = [base.with_name(f"{LOG_FILE}.{index}") for index in range(BACKUPS, 0, -1)]
    return [path for path in [*older, base] if path.exists()]


class JsonLines(logging.Formatter):
    """A log record as one JSON line; `trace_of` says which trace the code that logs is in, when it is in one."""

    def __init__(self, trace_of: Callable[[], str | None] = lambda: None) -> None:
        super().__init__()
        self.trace_of = trace_of

    def format(self, record: logging.LogRecord) -> str:
        moment = getattr(record, "at", None) or record.created
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": visible(record.getMessage(), MESSAGE_CHARS),
        }
        if record.exc_info:
            line["error"] = visible(self.formatException(record.exc_info), MESSAGE_CHARS)
        trace = getattr(record, "trace", None) or self.trace_of()
        for name, value in (("trace", trace), *((key, getattr(record, key, None)) for key in ("span", "seq", "agent"))):
            if value is not None:
                line[name] = visible(value) if isinstance(value, str) else value
        return json.dumps(line, ensure_ascii=False)


class StructuredLog:
    """The org's log stream, from `install` to `close`: a queue the loggers put into, a thread that writes."""

    def __init__(self, folder: Path, level: str = "info", trace_of: Callable[[], str | None] = lambda: None) -> None:
        self.path = Path(folder) / LOG_FILE
        self.level = level_number(level)
        self.trace_of = trace_of
        self._queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self._handler = logging.handlers.QueueHandler(self._queue)
        self._handler.setLevel(self.level)
        self._listener: logging.handlers.QueueListener | None = None
        self._logger = logging.getLogger(ROOT_LOGGER)

    def install(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        writer = _PrivateRotatingFile(self.path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
        writer.setFormatter(JsonLines())
        self._handler.setFormatter(_TraceStamp(self.trace_of))
        self._listener = logging.handlers.QueueListener(self._queue, writer)
        self._listener.start()
        self._logger.addHandler(self._handler)
        self._logger.setLevel(self.level)
        self._logger.propagate = False  # not to stderr: the console's screen is the terminal

    def close(self) -> None:
        self._logger.removeHandler(self._handler)
        if self._listener is not None:
            self._listener.stop()  # writes what is queued, then ends its thread
            for handler in self._listener.handlers:
                handler.close()
            self._listener = None

    def __call__(self, record: Record) -> None:
        """A journal listener: the record as a line of this stream (an agent's report at its own level). Written
        to this org's stream alone, not through the shared loggers: another org in the process never sees it."""
        event = record.event
        if isinstance(event, LogRecorded):
            name, level, agent, text = AGENT_LOGGER, level_number(event.level), record.actor, event.text
        else:
            fields = event.model_dump(mode="json", exclude={"type"})
            told = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))[:_EVENT_FIELDS_CHARS]
            agent = fields["agent"] if isinstance(fields.get("agent"), str) else record.actor
            name, level, text = JOURNAL_LOGGER, logging.INFO, f"{record.actor} {event.type} {told}"
        if level < self.level:
            return
        line = logging.LogRecord(name, level, __file__, 0, "%s", (text,), None)
        line.at, line.trace, line.span, line.seq, line.agent = record.time, record.trace, record.span, record.seq, agent
        self._handler.handle(line)


class _PrivateRotatingFile(logging.handlers.RotatingFileHandler):
    """Each file of the stream is made 0600, as the journal is (it holds the journal's records)."""

    def _open(self) -> io.TextIOWrapper:
        os.close(os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        os.chmod(self.baseFilename, 0o600)
        return super()._open()


class _TraceStamp(logging.Formatter):
    """On the logging thread's way into the queue: the trace is read there (it is the caller's context)."""

    def __init__(self, trace_of: Callable[[], str | None]) -> None:
        super().__init__()
        self.trace_of = trace_of

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "trace", None) is None:
            record.trace = self.trace_of()
        message = record.getMessage()
        if record.exc_info:  # the queue drops it: it is written out here, as text
            message = f"{message}\n{self.formatException(record.exc_info)}"
        return message


# --- reading ------------------------------------------------------------------------------------------------


def parse_line(text: str) -> dict[str, Any] | None:
    """A line of the stream as its fields; None for a line that is not one (cut off by a crash, or foreign)."""
    try:
        line = json.loads(text)
    except ValueError:
        return None
    if not isinstance(line, dict) or not isinstance(line.get("message"), str):
        return None
    return line


def matches(line: dict[str, Any], agent: str | None, trace: str | None, level: int) -> bool:
    name = str(line.get("level", "info"))
    if logging.getLevelNamesMapping().get(name.upper(), logging.INFO) < level:
        return False
    if agent is not None and line.get("agent") != agent:
        return False
    return trace is None or line.get("trace") == trace


def readable(line: dict[str, Any]) -> str:
    """One line for a person: local time, level, logger, agent, message, trace; every character visible."""
    try:
        moment = datetime.fromisoformat(str(line["time"]).replace("Z", "+00:00")).astimezone()
        when = moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
    except (KeyError, ValueError):
        when = "--:--:--.---"
    agent = f" [{visible(str(line['agent']), 24)}]" if line.get("agent") else ""
    trace = f"  trace={visible(str(line['trace']), 40)}" if line.get("trace") else ""
    seq = f" #{line['seq']}" if isinstance(line.get("seq"), int) else ""
    level = visible(str(line.get("level", "?")), 7).upper()
    logger = visible(str(line.get("logger", "?")), 40)
    return f"{when} {level:<7} {logger}{seq}{agent} {visible(str(line['message']), MESSAGE_CHARS)}{trace}"


def read_lines(files: list[Path]) -> Iterator[dict[str, Any]]:
    for path in files:
        with contextlib.suppress(FileNotFoundError), path.open(encoding="utf-8", errors="replace") as handle:
            for text in handle:
                line = parse_line(text)
                if line is not None:
                    yield line
