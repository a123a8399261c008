"""Agent kinds (claude, codex, aider, gemini, shell) as data, and the engine that reads their screens."""

from .definition import Answer, Keys, KindDefinition, KindError, Resume, Rule, known_kinds, load_kind, load_kind_file
from .detect import UNKNOWN, Detection, Option, detect, normalized, screen_lines

__all__ = [
    "UNKNOWN",
    "Answer",
    "Detection",
    "Keys",
    "KindDefinition",
    "KindError",
    "Option",
    "Resume",
    "Rule",
    "detect",
    "known_kinds",
    "load_kind",
    "load_kind_file",
    "normalized",
    "screen_lines",
]
