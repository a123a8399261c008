"""Running the real Claude Code offline: its config under a temp HOME, pointed at a stub Anthropic API."""

from __future__ import annotations

import json
from pathlib import Path

from tests.agent_clis import cli_path

API_KEY = "sk-ant-api03-stub-key-for-offline-tests-0123456789abcdefghij"
MODEL = "claude-sonnet-4-5"


def prepare(
    home: Path,
    workdir: Path,
    base_url: str,
    hooks_settings: Path | None = None,
    *,
    dialogs: bool = False,
    extra_env: dict[str, str] | None = None,
) -> tuple[list[str], dict[str, str]]:
    """Writes `home/.claude.json` and returns (argv, env) to run Claude Code in `workdir` against `base_url`.

    Without `dialogs` it starts straight at the prompt: onboarding done, `workdir` trusted, the API key
    approved. With `dialogs` the trust flag and the key approval are left out, so the start-up dialogs
    ("trust this folder", "use this API key") appear. `hooks_settings` is passed with `--settings`.
    """
    home.mkdir(parents=True, exist_ok=True)
    workdir.mkdir(parents=True, exist_ok=True)
    project: dict[str, object] = {
        "allowedTools": [],
        "hasTrustDialogAccepted": not dialogs,
        "hasCompletedProjectOnboarding": True,
        "projectOnboardingSeenCount": 1,
    }
    config: dict[str, object] = {
        "hasCompletedOnboarding": True,
        "lastOnboardingVersion": "2.1.197",
        "theme": "dark",
        "numStartups": 1,
        "hasSeenTasksHint": True,
        "shiftEnterKeyBindingInstalled": True,
        "hasIdeOnboardingBeenShown": {"vscode": True},
        "projects": {str(workdir): project},
        "customApiKeyResponses": {"approved": [] if dialogs else [API_KEY[-20:]], "rejected": []},
    }
    (home / ".claude.json").write_text(json.dumps(config, indent=2))
    argv = [str(cli_path("claude")), "--model", MODEL]
    if hooks_settings is not None:
        argv += ["--settings", str(hooks_settings)]
    env = {
        "HOME": str(home),
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": API_KEY,
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "CLAUDE_CODE_IDE_SKIP_AUTO_INSTALL": "1",
        **(extra_env or {}),
    }
    return argv, env
