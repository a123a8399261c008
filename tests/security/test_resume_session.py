"""A hostile agent reports a session id of its choosing, hoping the console puts it on its next command line: an
option (`--dangerously-skip-permissions`), shell code (`$(touch …)`), a second argument. Attempted for real under
`serve`: the agent is a claude-kind program (a script standing in for Claude Code that records its argv and
leaves a shell in its pane) whose own pane runs `agent-console hook claude` with forged payloads; then the human
restarts it. The command it gets carries none of it, and nothing ran; a session id Claude Code could have given
is resumed, as one argument."""

from __future__ import annotations

import json
from pathlib import Path

from ..conftest import wait_for
from ..test_serve import serving

SESSION = "d8f5ce14-80a9-4efb-a0e7-53ab2b56b67a"


def hostile_ids(pwned: Path) -> list[str]:
    return [
        "--dangerously-skip-permissions",
        f"$(touch {pwned})",
        f"`touch {pwned}`",
        f"x; touch {pwned}",
        f"{SESSION} --settings {pwned}",
        f"{SESSION}\ntouch {pwned}",
        f"{SESSION}'; touch {pwned}; '",
    ]


def test_a_forged_session_id_never_reaches_the_command_line_and_a_real_one_does(
    tmux_socket: str, tmp_path: Path
) -> None:
    pwned = tmp_path / "pwned"
    fake = tmp_path / "fake-claude.sh"
    # each start records its arguments, one per line, then leaves the agent a shell in its pane
    fake.write_text(
        f'n=$(ls {tmp_path}/argv.* 2>/dev/null | wc -l); printf "%s\\n" "$@" > {tmp_path}/argv.$((n + 1))\n'
        "exec bash --norc --noprofile\n"
    )
    spec = (
        '[org]\nname = "crew"\n\n[[team]]\nname = "core"\n\n'
        f'[[agent]]\nname = "eve"\nteam = "core"\nkind = "claude"\ncommand = "bash {fake}"\n'
    )

    def argv(launch: int) -> list[str]:
        path = tmp_path / f"argv.{launch}"
        wait_for(lambda: path.exists() and path.read_text().endswith("\n"), 30, what=f"start {launch} of eve")
        return path.read_text().splitlines()

    with serving(tmux_socket, tmp_path, spec) as crew:
        assert "--resume" not in argv(1)
        for index, forged in enumerate(hostile_ids(pwned)):
            payload = tmp_path / f"forged{index}.json"
            payload.write_text(json.dumps({"hook_event_name": "Stop", "session_id": forged}))
            crew.type_in("eve", f"agent-console hook claude < {payload} && touch {tmp_path}/sent{index}")
            wait_for(lambda index=index: (tmp_path / f"sent{index}").exists(), 30, what=f"forged hook {index}")
        restarted = crew.cli("restart", "eve")
        assert restarted.returncode == 0 and "starts afresh" in restarted.stdout, restarted.stderr
        second = argv(2)
        assert "--resume" not in second
        assert not any(forged in "\n".join(second) for forged in hostile_ids(pwned))
        assert not pwned.exists()

        # the legitimate path: an id Claude Code could have given is resumed, as one argument of its own
        payload = tmp_path / "real.json"
        payload.write_text(json.dumps({"hook_event_name": "UserPromptSubmit", "session_id": SESSION, "prompt": "hi"}))
        crew.type_in("eve", f"agent-console hook claude < {payload} && touch {tmp_path}/sent-real")
        wait_for(lambda: (tmp_path / "sent-real").exists(), 30, what="the real hook")
        restarted = crew.cli("restart", "eve")
        assert restarted.returncode == 0 and f"resuming session {SESSION}" in restarted.stdout, restarted.stderr
        third = argv(3)
        assert third[third.index("--resume") + 1] == SESSION and third[-2:] == ["--resume", SESSION]
        assert not pwned.exists()
