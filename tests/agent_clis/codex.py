"""Codex (the real CLI) set up to run offline against the OpenAI stub, with no start-up dialogs."""

from __future__ import annotations

import json
from pathlib import Path

from tests.agent_clis import cli_path

MODEL = "gpt-stub"
API_KEY = "sk-stub-codex-0123456789"


def prepare(
    home: Path,
    workdir: Path,
    base_url: str,
    *,
    dialogs: bool = False,
    notify: list[str] | None = None,
    extra_env: dict[str, str] | None = None,
) -> tuple[list[str], dict[str, str]]:
    """Write `home/.codex/config.toml` and return the argv and environment that run Codex in `workdir`.

    `dialogs=True` leaves out the project trust entry: in a version-controlled folder Codex then asks whether
    to trust it (elsewhere it only lists commands to start with). `notify` is passed as a `-c notify=[…]`
    override, which leaves the config file alone."""
    codex_home = home / ".codex"
    codex_home.mkdir(parents=True, exist_ok=True)
    lines = [
        f"model = {json.dumps(MODEL)}",
        'model_provider = "stub"',
        'approval_policy = "on-request"',
        "check_for_update_on_startup = false",
        "",
        "[model_providers.stub]",
        'name = "Stub"',
        f"base_url = {json.dumps(base_url)}",
        'env_key = "STUB_OPENAI_API_KEY"',
        'wire_api = "responses"',
        # A failed request shows its error at once instead of after minutes of back-off.
        "request_max_retries = 0",
        "stream_max_retries = 0",
        "",
        "[analytics]",
        "enabled = false",
    ]
    if not dialogs:
        lines += ["", f"[projects.{json.dumps(str(workdir))}]", 'trust_level = "trusted"']
    (codex_home / "config.toml").write_text("\n".join(lines) + "\n")
    # Without --no-daemon Codex starts a shared app-server in a session of its own, which outlives the pane.
    argv = [str(cli_path("codex")), "--no-daemon"]
    if notify is not None:
        argv += ["-c", f"notify={json.dumps(notify)}"]
    env = {
        "HOME": str(home),
        "CODEX_HOME": str(codex_home),
        "TERM": "xterm-256color",
        "STUB_OPENAI_API_KEY": API_KEY,
        "NO_PROXY": "127.0.0.1,localhost",
        **(extra_env or {}),
    }
    return argv, env
