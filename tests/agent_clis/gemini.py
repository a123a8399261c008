"""Gemini CLI (the real program) set up to run offline against the Gemini stub."""

from __future__ import annotations

import json
from pathlib import Path

from tests.agent_clis import cli_path

MODEL = "gemini-2.5-flash"
API_KEY = "stub-gemini-key-0123456789"


def prepare(
    home: Path,
    workdir: Path,
    base_url: str,
    *,
    dialogs: bool = False,
    extra_env: dict[str, str] | None = None,
) -> tuple[list[str], dict[str, str]]:
    """Write `home/.gemini/settings.json` (and the trusted folders) and return the argv and environment that run
    Gemini CLI in `workdir` against `base_url`.

    `dialogs=True` leaves `workdir` out of the trusted folders, so Gemini starts with its folder-trust dialog.
    Without dialogs Gemini runs without its relaunch wrapper (GEMINI_CLI_NO_RELAUNCH): the wrapper ignores the
    hangup of a closed pane, so it and Gemini would run on; with dialogs it is kept, since trusting the folder
    restarts Gemini through it (end such a run with /quit)."""
    gemini_home = home / ".gemini"
    gemini_home.mkdir(parents=True, exist_ok=True)
    workdir.mkdir(parents=True, exist_ok=True)
    settings = {
        # With the auth type chosen and GEMINI_API_KEY set, no sign-in dialog; GOOGLE_GEMINI_BASE_URL then
        # points the @google/genai client at the stub.
        "security": {"auth": {"selectedType": "gemini-api-key"}},
        "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False},
        "privacy": {"usageStatisticsEnabled": False},
        "telemetry": {"enabled": False},
        "ide": {"enabled": False, "hasSeenNudge": True},
        "model": {"name": MODEL},
    }
    (gemini_home / "settings.json").write_text(json.dumps(settings, indent=2))
    trusted = {} if dialogs else {str(workdir): "TRUST_FOLDER"}
    (gemini_home / "trustedFolders.json").write_text(json.dumps(trusted, indent=2))
    tmp = home / "tmp"  # Gemini writes a report of each API error to the temp folder
    tmp.mkdir(exist_ok=True)
    argv = [str(cli_path("gemini"))]
    env = {
        "HOME": str(home),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "TMPDIR": str(tmp),
        "GEMINI_API_KEY": API_KEY,
        "GOOGLE_GEMINI_BASE_URL": base_url,
        "NO_PROXY": "127.0.0.1,localhost",
    }
    if not dialogs:
        env["GEMINI_CLI_NO_RELAUNCH"] = "true"
    env.update(extra_env or {})
    return argv, env
