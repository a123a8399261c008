"""aider (the real program) set up to run offline against the OpenAI stub, with no start-up questions."""

from __future__ import annotations

import json
from pathlib import Path

from tests.agent_clis import cli_path

MODEL = "gpt-stub"
API_KEY = "sk-stub-aider-0123456789"
METADATA = {
    "max_input_tokens": 128000,
    "max_output_tokens": 4096,
    "input_cost_per_token": 0.0,
    "output_cost_per_token": 0.0,
    "litellm_provider": "openai",
    "mode": "chat",
}


def prepare(
    home: Path,
    workdir: Path,
    base_url: str,
    *,
    dialogs: bool = False,
    extra_env: dict[str, str] | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The argv and environment that run aider in `workdir` against `base_url`.

    By default aider runs without git (`--no-git`: no repo to create, no commit messages to ask the model
    for). `dialogs=True` lets it look for a repo, so in a folder without one it asks whether to create it."""
    home.mkdir(parents=True, exist_ok=True)
    # aider reads both from $HOME. Known metadata spares the fetch of litellm's price list (which fails
    # offline and prints its error) and the unknown-model warning; the diff format (SEARCH/REPLACE blocks)
    # is the one in which aider also offers to run suggested shell commands, and as the model's own
    # format it keeps the prompt a bare "> ".
    (home / ".aider.model.metadata.json").write_text(json.dumps({f"openai/{MODEL}": METADATA}, indent=2))
    (home / ".aider.model.settings.yml").write_text(
        f"- name: openai/{MODEL}\n  edit_format: diff\n  use_repo_map: false\n"
    )
    argv = [
        str(cli_path("aider")),
        "--openai-api-base",
        base_url,
        "--openai-api-key",
        API_KEY,
        "--model",
        f"openai/{MODEL}",
        "--map-tokens",
        "0",
        "--no-check-update",
        "--no-analytics",
        "--no-show-release-notes",
        "--no-notifications",
        "--no-restore-chat-history",
    ]
    if not dialogs:
        argv.append("--no-git")
    env = {
        "HOME": str(home),
        "TERM": "xterm-256color",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "NO_PROXY": "127.0.0.1,localhost",
        **(extra_env or {}),
    }
    return argv, env
