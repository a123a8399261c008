"""Secrets are never stored or shown: a redaction pass over agents' text before it is journaled or displayed.

Each rule recognises one documented format of credential (provider API keys, tokens, private-key blocks,
passwords in URLs, `.env`-style assignments) and puts a marker such as `[redacted:aws-key]` in its place,
so the journal keeps what kind of secret was there, never the secret. An org can add its own patterns
(`[org] redact = [...]`) and the console adds the bearer tokens it hands out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from pydantic import BaseModel

ModelT = TypeVar("ModelT", bound=BaseModel)

# A variable or JSON key is a secret's name when one of its parts is one of these words (`DB_PASSWORD`,
# `"api_key"`, `aws_secret_access_key`), whatever the case; `compass` or `monkey` are not.
_SECRET_WORDS = r"(?:SECRET|TOKEN|PASSWORD|PASSWD|PASSPHRASE|PWD|PASS|KEY|APIKEY|CREDENTIALS?|AUTH)"
_SECRET_NAME = rf"(?:[A-Za-z0-9]+[_.-])*{_SECRET_WORDS}(?:[_.-][A-Za-z0-9]+)*"


@dataclass(frozen=True)
class _Rule:
    kind: str
    pattern: re.Pattern[str]  # the secret is the group named `secret…` that matched, else the whole match


def _rule(kind: str, pattern: str, flags: int = 0) -> _Rule:
    return _Rule(kind, re.compile(pattern, flags))


_NOT_A_MARKER = r"(?!\[redacted:)"
# A value as written after `=` or `:`: quoted (spaces allowed) or bare.
_VALUE = (
    "(?:"
    rf""""{_NOT_A_MARKER}(?P<secret_dq>[^"\n]+)"|'{_NOT_A_MARKER}(?P<secret_sq>[^'\n]+)'"""
    rf"""|{_NOT_A_MARKER}(?P<secret>[^\s'"]+)"""
    ")"
)
_PRIVATE_KEY_LABEL = r"(?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?"

# Most specific first: a private-key block or an Anthropic key must not be half-eaten by a broader rule.
RULES: tuple[_Rule, ...] = (
    _rule(
        "private-key",
        rf"-----BEGIN {_PRIVATE_KEY_LABEL}-----.*?(?:-----END {_PRIVATE_KEY_LABEL}-----|\Z)",
        re.DOTALL,
    ),
    _rule("anthropic-key", r"\bsk-ant-[A-Za-z0-9_-]{20,}"),
    _rule("openai-key", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
    _rule("stripe-key", r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}"),
    _rule("github-token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})"),
    _rule("gitlab-token", r"\bglpat-[A-Za-z0-9_-]{20,}"),
    _rule("aws-key", r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b"),
    _rule("google-key", r"\bAIza[0-9A-Za-z_-]{35}"),
    _rule("google-oauth-token", r"\bya29\.[0-9A-Za-z_-]{20,}"),
    _rule("slack-token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    _rule("slack-webhook", r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,}"),
    _rule("npm-token", r"\bnpm_[A-Za-z0-9]{36}\b"),
    _rule("huggingface-token", r"\bhf_[A-Za-z0-9]{30,}"),
    _rule("sendgrid-key", r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"),
    _rule("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    _rule("url-password", r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:(?P<secret>[^\s@/]+)@"),
    _rule("bearer-token", r"\b(?:[Bb]earer|BEARER|[Bb]asic)\s+(?P<secret>[A-Za-z0-9._~+/-]{16,}=*)"),
    # `.env` style, shell and INI/TOML assignments: DB_PASSWORD=…, export API_KEY="…", password = "…"
    _rule("secret-value", rf"(?<![A-Za-z0-9_])(?i:{_SECRET_NAME})[ \t]*=[ \t]*{_VALUE}"),
    # JSON: "api_key": "…"
    _rule("secret-value", rf"[\"'](?i:{_SECRET_NAME})[\"']\s*:\s*{_VALUE}"),
    # YAML: a line that is only `password: …`
    _rule("secret-value", rf"(?m)^[ \t]*(?i:{_SECRET_NAME})[ \t]*:[ \t]*{_VALUE}[ \t]*$"),
)

# Free-text fields of events: identifiers and names are validated by pattern and carry no secrets.
TEXT_FIELDS = frozenset({"task", "text", "command", "detail", "reason", "question", "options"})


def marker(kind: str) -> str:
    return f"[redacted:{kind}]"


class Redactor:
    """Replaces every secret it recognises in a text (or an event's free-text fields) with a marker."""

    def __init__(self, patterns: Sequence[str] = (), literals: Iterable[str] = ()) -> None:
        extra = tuple(_rule("org-pattern", pattern) for pattern in patterns)
        self.rules = RULES + extra
        self.literals: tuple[str, ...] = ()
        self.add_literals(literals)

    def add_literals(self, literals: Iterable[str]) -> None:
        """Exact strings that are secrets wherever they appear (e.g. the tokens the console hands out)."""
        known = {*self.literals, *(value for value in literals if len(value) >= 8)}
        self.literals = tuple(sorted(known, key=len, reverse=True))

    def text(self, text: str) -> str:
        if not text:
            return text
        for literal in self.literals:
            if literal in text:
                text = text.replace(literal, marker("console-token"))
        for rule in self.rules:
            text = rule.pattern.sub(partial(_replace, rule=rule), text)
        return text

    def event(self, event: ModelT) -> ModelT:
        """`event` with its free-text fields redacted (the same object when nothing was found)."""
        changes: dict[str, str | tuple[str, ...]] = {}
        for name in TEXT_FIELDS & set(type(event).model_fields):
            value = getattr(event, name)
            redacted: str | tuple[str, ...]
            if isinstance(value, str):
                redacted = self.text(value)
            elif isinstance(value, tuple) and all(isinstance(item, str) for item in value):
                redacted = tuple(self.text(item) for item in value)
            else:
                continue
            if redacted != value:
                changes[name] = redacted
        return event.model_copy(update=changes) if changes else event

    def data(self, value: object) -> object:
        """Every string inside JSON-like data, redacted (for outputs that were never journaled)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {key: self.data(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(item) for item in value]
        return value


def _replace(match: re.Match[str], rule: _Rule) -> str:
    secret = next((name for name, value in match.groupdict().items() if name.startswith("secret") and value), None)
    if secret is None:
        return marker(rule.kind)
    start, end = match.start(secret) - match.start(), match.end(secret) - match.start()
    text = match.group(0)
    return text[:start] + marker(rule.kind) + text[end:]
