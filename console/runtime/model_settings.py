"""Where the model executive's settings come from: the user's settings file, the org spec, the environment.

Each later source overrides the earlier ones, key by key:

1. `$XDG_CONFIG_HOME/agent-console/settings.toml` (default `~/.config/...`), table `[executive]`;
2. the org spec's `[executive]` table;
3. the environment: `AGENT_CONSOLE_EXECUTIVE_PROVIDER`, `_MODEL`, `_BASE_URL`, `_API_KEY_ENV`, `_API_KEY_FILE`.

The key itself is read from the environment variable `api_key_env` names (by default `ANTHROPIC_API_KEY` or
`OPENAI_API_KEY`), or from `api_key_file`, which must be readable by its owner only (0600). It is kept in memory
only: never journaled, logged or shown (the caller adds it to the redactor, so an echo of it is masked too).
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent_console.agents.errors import InvalidInput, first_problem

Provider = Literal["anthropic", "openai"]
ENV_PREFIX = "AGENT_CONSOLE_EXECUTIVE_"
ENV_KEYS = ("provider", "model", "base_url", "api_key_env", "api_key_file")
DEFAULT_URL = {"anthropic": "https://api.anthropic.com", "openai": "https://api.openai.com/v1"}
DEFAULT_KEY_ENV = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
HOW_TO = (
    "To let the executive answer in plain English, set [executive] provider and model in "
    "~/.config/agent-console/settings.toml and the API key in ANTHROPIC_API_KEY or OPENAI_API_KEY (see the README)."
)


class SettingsError(InvalidInput):
    """The executive's settings are wrong: which file or variable, which key, what is wrong."""


class ExecutiveSettings(BaseModel):
    """The `[executive]` table, merged from every source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: Provider | None = None
    model: str | None = Field(default=None, min_length=1, max_length=200)
    base_url: str | None = None
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    api_key_file: Path | None = None
    timeout: float = Field(default=60.0, gt=0, le=600, description="seconds without a byte from the model")
    retries: int = Field(default=3, ge=0, le=10, description="attempts after a 429, a 5xx or a lost connection")
    max_tokens: int = Field(default=2048, ge=64, le=64_000)
    ask: tuple[str, ...] = Field(default=(), description="more commands the model must ask the human before running")

    @property
    def url(self) -> str:
        return (self.base_url or DEFAULT_URL[self.provider or "anthropic"]).rstrip("/")

    @property
    def key_env(self) -> str:
        return self.api_key_env or DEFAULT_KEY_ENV[self.provider or "anthropic"]

    @property
    def local(self) -> bool:
        """A server on this machine (Ollama, vLLM): it may do without a key."""
        return (urlparse(self.url).hostname or "") in LOCAL_HOSTS

    def describe(self) -> str:
        return f"{self.provider} model {self.model} at {self.url}"


@dataclass(frozen=True)
class Enabled:
    settings: ExecutiveSettings
    key: str | None  # None only for a local server without one


@dataclass(frozen=True)
class Disabled:
    why: str  # one line for the chat: why the model is off and how to turn it on


def settings_file(env: Mapping[str, str]) -> Path:
    config = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(config) / "agent-console" / "settings.toml"


def resolve(spec: str | Path | None, env: Mapping[str, str] | None = None) -> Enabled | Disabled:
    """The model executive's settings and key, or why it stays the built-in one; SettingsError for a wrong file."""
    env = os.environ if env is None else env
    merged: dict[str, Any] = {}
    where: dict[str, str] = {}
    user = settings_file(env)
    for source, table in ((str(user), _table(user)), (str(spec), _table(Path(spec)) if spec else {})):
        merged.update(table)
        where.update(dict.fromkeys(table, source))
    for key in ENV_KEYS:
        value = env.get(ENV_PREFIX + key.upper())
        if value:
            merged[key] = value
            where[key] = ENV_PREFIX + key.upper()
    try:
        settings = ExecutiveSettings.model_validate(merged)
    except ValidationError as error:
        problem = first_problem(error)
        key = problem.where.split(".")[0] if problem.where else ""
        source = where.get(key, "the executive's settings")
        message = "unknown key" if problem.type == "extra_forbidden" else problem.message
        raise SettingsError(f"{source}: [executive] {problem.where}: {message}") from None
    if settings.provider is None or settings.model is None:
        return Disabled(HOW_TO)
    secret = _key(settings, env)
    if secret is None and not settings.local:
        return Disabled(
            f"The model executive ({settings.describe()}) is off: no API key in ${settings.key_env}"
            + (f" nor in {settings.api_key_file}" if settings.api_key_file else "")
            + ". Set it and start the console again."
        )
    return Enabled(settings, secret)


def _table(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError(f"{path}: cannot read: {error}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"{path}: bad TOML: {error}") from None
    table = data.get("executive", {})
    if not isinstance(table, dict):
        raise SettingsError(f"{path}: executive: must be a table, written [executive]")
    return table


def _key(settings: ExecutiveSettings, env: Mapping[str, str]) -> str | None:
    value = env.get(settings.key_env, "").strip()
    if value:
        return value
    if settings.api_key_file is None:
        return None
    path = settings.api_key_file.expanduser()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise SettingsError(f"[executive] api_key_file: no such file: {path}") from None
    except OSError as error:
        raise SettingsError(f"[executive] api_key_file: cannot read {path}: {error.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SettingsError(
            f"[executive] api_key_file: {path} is open to others (mode {stat.S_IMODE(mode):04o}): the key stays "
            f"unused until only you can read it: chmod 600 {path}"
        )
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError as error:
        raise SettingsError(f"[executive] api_key_file: cannot read {path}: {error.strerror}") from None
