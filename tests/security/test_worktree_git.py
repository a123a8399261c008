"""An agent with a worktree can write the repository's git configuration and attributes (they are shared with
the main repository). The attack: plant programs git runs — a post-merge hook, a smudge filter its own commit
turns on — so that the console's merge (approved by the human, run as the human) runs them and they take the
human's token. They must not run outside the agents' boundary; the merge itself must still be done."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agent_console.runtime import isolation, paths, worktrees

from ..test_worktrees import commit, git, make_repo

needs_bwrap = pytest.mark.skipif(
    shutil.which("bwrap") is None or isolation.probe(shutil.which("bwrap") or "") is not None,
    reason="bubblewrap does not work here",
)


@needs_bwrap
def test_programs_an_agent_plants_in_the_repository_do_not_run_as_the_human_on_merge(tmp_path: Path) -> None:
    token = paths.human_token("crew", create=True)
    token_file = paths.state_dir("crew") / "human.token"
    repo = make_repo(tmp_path / "api")
    tree = worktrees.ensure("crew", "ann", repo)
    loot = tmp_path / "loot"
    loot.mkdir()

    # The agent's moves, all from its own worktree: a hook in the shared hooks folder, a filter in the shared
    # config, turned on for text files by the shared attributes, and a commit that brings a text file.
    common = Path(git(tree.path, "rev-parse", "--git-common-dir"))
    hooks = common / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "post-merge").write_text(f"#!/bin/sh\ncat {token_file} > {loot}/hook\n")
    (hooks / "post-merge").chmod(0o755)
    git(tree.path, "config", "filter.evil.smudge", f"sh -c 'cat {token_file} > {loot}/filter 2>&1; cat'")
    git(tree.path, "config", "filter.evil.clean", "cat")
    (common / "info").mkdir(exist_ok=True)
    (common / "info" / "attributes").write_text("*.txt filter=evil\n")
    commit(tree.path, "payload.txt", "looks harmless\n", "add a payload")

    said = worktrees.merge(tree, worktrees.head(tree))

    assert said.startswith("merged agent/crew/ann")  # the legitimate merge is done
    assert (repo / "payload.txt").read_text() == "looks harmless\n"
    assert not (loot / "hook").exists()  # the hook never ran
    stolen = (loot / "filter").read_text()  # the filter ran (git's own doing), but inside the boundary:
    assert token not in stolen and "No such file" in stolen  # the state directory is not there
