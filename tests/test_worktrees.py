"""A git worktree per agent, with real git in temporary repositories: made beside the repository on the agent's
branch, reused on restart, refused clearly where it cannot be made; `/diff` shows it, and `/merge` and `/discard`
change nothing until the human approves them in the queue (a real `serve` on a private tmux)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_console.agents.spec import dump_spec, load_spec, parse_spec
from agent_console.runtime import worktrees
from agent_console.runtime.worktrees import WorktreeConflict, WorktreeError

from .conftest import tmux, wait_for
from .test_serve import Served

SHELL = "bash --norc --noprofile"


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "dev@example.com")
    git(path, "config", "user.name", "Dev")
    (path / "app.py").write_text("print('hello')\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "first")
    return path


def commit(cwd: Path, name: str, text: str, message: str = "change") -> None:
    (cwd / name).write_text(text)
    git(cwd, "add", name)
    git(cwd, "-c", "user.email=a@example.com", "-c", "user.name=Agent", "commit", "-q", "-m", message)


# --- the spec ------------------------------------------------------------------------------------------------


def test_worktree_is_set_per_agent_or_per_team_and_saved_back(tmp_path: Path) -> None:
    spec = tmp_path / "crew.toml"
    spec.write_text(
        """
[org]
name = "crew"

[[team]]
name = "core"
worktree = true

[[team]]
name = "docs"
parent = "core"

[[team]]
name = "ops"

[[agent]]
name = "ann"
team = "docs"

[[agent]]
name = "bob"
team = "core"
worktree = false

[[agent]]
name = "cat"
team = "ops"
worktree = true

[[agent]]
name = "dan"
team = "ops"
"""
    )
    org = load_spec(spec)
    uses = {agent.name: org.uses_worktree(agent) for agent in org.agents}
    assert uses == {"ann": True, "bob": False, "cat": True, "dan": False}  # ann by her team's parent
    saved = dump_spec(org, spec)
    assert saved.count("worktree = true") == 2 and saved.count("worktree = false") == 1
    assert parse_spec(saved, spec) == org


# --- the worktree itself ---------------------------------------------------------------------------------------


def test_a_worktree_is_made_beside_the_repository_on_the_agents_branch_and_reused(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "api")
    tree = worktrees.ensure("acme", "ann", repo)
    assert tree.path == tmp_path / "api.worktrees" / "acme" / "ann"
    assert tree.branch == "agent/acme/ann" and tree.base == "main" and tree.repo == repo
    assert git(tree.path, "branch", "--show-current") == "agent/acme/ann"
    assert git(repo, "status", "--porcelain") == ""  # nothing of it shows in the repository
    again = worktrees.ensure("acme", "ann", repo)
    assert again == tree
    listed = git(repo, "worktree", "list", "--porcelain").count("worktree ")
    assert listed == 2  # the repository and ann's: never a second one


def test_no_worktree_outside_a_repository_nor_over_a_branch_with_other_work(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(WorktreeError, match=r"ann: its cwd .*plain is not in a git repository"):
        worktrees.ensure("acme", "ann", plain)
    repo = make_repo(tmp_path / "api")
    git(repo, "switch", "-q", "-c", "agent/acme/bob")
    commit(repo, "other.txt", "someone else's work\n")
    git(repo, "switch", "-q", "main")
    with pytest.raises(WorktreeConflict, match=r"branch agent/acme/bob exists .* with commits not on main"):
        worktrees.ensure("acme", "bob", repo)
    assert not (tmp_path / "api.worktrees" / "acme" / "bob").exists()
    git(repo, "branch", "-q", "agent/acme/cat")  # a branch with nothing of its own is taken
    assert worktrees.ensure("acme", "cat", repo).branch == "agent/acme/cat"


def test_diff_shows_commits_and_uncommitted_changes_against_the_base(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "api")
    tree = worktrees.ensure("acme", "ann", repo)
    commit(tree.path, "app.py", "print('hello, world')\n")
    (tree.path / "notes.md").write_text("draft\n")
    text = worktrees.diff(tree)
    assert "-print('hello')" in text and "+print('hello, world')" in text
    assert "new file, not yet added: notes.md" in text
    state = worktrees.status(tree)
    assert (state.ahead, state.uncommitted, state.changed) == (1, 1, True)


def test_a_conflicting_merge_leaves_the_repository_as_it_was(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "api")
    tree = worktrees.ensure("acme", "ann", repo)
    commit(tree.path, "app.py", "print('ann')\n")
    commit(repo, "app.py", "print('main')\n")
    before = git(repo, "rev-parse", "HEAD")
    with pytest.raises(WorktreeConflict, match=r"agent/acme/ann conflicts with main in app\.py; .* is as it was"):
        worktrees.merge(tree, worktrees.head(tree))
    assert git(repo, "rev-parse", "HEAD") == before
    assert git(repo, "status", "--porcelain") == ""
    assert not (repo / ".git" / "MERGE_HEAD").exists()


# --- through a running console --------------------------------------------------------------------------------


@pytest.fixture
def served(tmux_socket: str, tmp_path: Path) -> Iterator[tuple[Served, Path]]:
    runtime = Path(tempfile.mkdtemp(prefix="acrt", dir="/tmp"))  # short: unix socket paths are capped
    service = Served(tmux_socket, tmp_path, runtime)
    repo = make_repo(tmp_path / "api")
    service.spec.write_text(
        f"""
[org]
name = "crew"

[[team]]
name = "core"

[[agent]]
name = "ann"
team = "core"
command = "{SHELL}"
cwd = "api"
worktree = true

[[agent]]
name = "bob"
team = "core"
command = "{SHELL}"
"""
    )
    service.start()
    yield service, repo
    service.stop()
    shutil.rmtree(runtime, ignore_errors=True)


def request_id(said: str) -> str:
    found = re.search(r"\(request (a[0-9a-f]{8})\)", said)
    assert found, said
    return found.group(1)


def test_an_agent_works_in_its_worktree_and_merge_and_discard_wait_for_the_human(
    served: tuple[Served, Path], tmp_path: Path
) -> None:
    crew, repo = served
    path = tmp_path / "api.worktrees" / "crew" / "ann"
    crew.type_in("ann", "pwd")
    wait_for(lambda: str(path) in tmux(crew.socket, "capture-pane", "-p", "-t", crew.pane("ann")), 20, what="ann's pwd")
    commit(path, "app.py", "print('from ann')\n", "ann's change")  # what ann's program would do

    shown = crew.cli("diff", "ann")
    assert shown.returncode == 0 and "+print('from ann')" in shown.stdout, shown.stdout + shown.stderr

    # Denied: nothing changes.
    before = git(repo, "rev-parse", "HEAD")
    asked = crew.cli("merge", "ann")
    assert asked.returncode == 0, asked.stderr
    assert "waits for your approval" in asked.stdout and "into main at" in asked.stdout
    pending = crew.cli("approvals")
    assert "executive" in pending.stdout and "git merge --no-ff" in pending.stdout, pending.stdout + pending.stderr
    denied = crew.cli("deny", request_id(asked.stdout))
    assert denied.returncode == 0, denied.stderr
    assert git(repo, "rev-parse", "HEAD") == before

    # Approved: merged into main at the repository.
    approved = crew.cli("approve", request_id(crew.cli("merge", "ann").stdout))
    assert approved.returncode == 0 and "merged agent/crew/ann" in approved.stdout, approved.stdout + approved.stderr
    assert (repo / "app.py").read_text() == "print('from ann')\n"
    assert git(repo, "log", "-1", "--format=%s") == "Merge agent/crew/ann (agent ann)"

    # A restart reuses the same worktree.
    (path / "scratch.txt").write_text("uncommitted\n")
    assert crew.cli("restart", "ann").returncode == 0
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 2
    assert (path / "scratch.txt").exists()

    # Removed from the org, its uncommitted work is kept, and the console says so.
    killed = crew.cli("kill", "ann")
    assert killed.returncode == 0 and f"its worktree {path} (branch agent/crew/ann) is kept" in killed.stdout
    assert (path / "scratch.txt").read_text() == "uncommitted\n"
    crew.stop()  # started again without ann (the kill is kept), the console says her work is still there
    crew.start()
    assert crew.process is not None and crew.process.stderr is not None
    said = crew.process.stderr.readline()
    while "kept the worktrees" not in said and said:
        said = crew.process.stderr.readline()
    assert "kept the worktrees of ann, no longer in the org: /merge NAME or /discard NAME" in said

    asked = crew.cli("discard", "ann")
    assert asked.returncode == 0 and "1 uncommitted change(s)" in asked.stdout, asked.stdout + asked.stderr
    assert crew.cli("deny", request_id(asked.stdout)).returncode == 0
    assert (path / "scratch.txt").exists()
    approved = crew.cli("approve", request_id(crew.cli("discard", "ann").stdout))
    assert approved.returncode == 0 and "discarded ann's worktree" in approved.stdout, approved.stdout
    assert not path.exists()
    assert git(repo, "branch", "--list", "agent/crew/ann") == ""


def test_an_agent_cannot_merge_and_spawn_outside_a_repository_is_refused(served: tuple[Served, Path]) -> None:
    crew, repo = served
    before = git(repo, "rev-parse", "HEAD")
    tried = crew.cli_as("bob", "merge", "ann")
    assert tried.returncode != 0 and "merge" in tried.stderr
    assert crew.cli("approvals").stdout.count("git merge") == 0  # nothing was filed
    assert git(repo, "rev-parse", "HEAD") == before

    refused = crew.cli("spawn", "cat", "--team", "core", "--command", SHELL, "--worktree")
    assert refused.returncode != 0
    assert "is not in a git repository" in refused.stderr, refused.stderr
    assert "cat" not in crew.agents()
