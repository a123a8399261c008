"""A git worktree per agent: made from the repository at the agent's `cwd`, on a branch named after the agent.

Where they live: beside the repository, in `<repo>.worktrees/<org>/<agent>` (for `/src/api`,
`/src/api.worktrees/acme/alice`), on branch `agent/<org>/<agent>` made from the branch the repository has checked
out (its base). Beside, not inside: tools run in the repository (tests, search, the agents without a worktree)
never walk into the agents' copies, and nothing needs ignoring. The agent's boundary keeps the filesystem
writable outside the console's state, so an agent writes its worktree and the metadata git keeps for it in the
repository's `.git/worktrees/<agent>`.

Which agent has which worktree is kept in the org's state directory (`worktrees.json`, hidden from agents), so
a restart or another `up` reuses the same one, and a removed agent's work can still be merged or discarded.
Nothing here deletes work except `discard`, which runs only when the human approves it.

The repository's configuration and attributes are the agents' to write (hooks, fsmonitor, filters, merge and
diff drivers all run programs), so the console's own git runs inside the agents' boundary when there is one:
whatever an agent planted there runs no better placed than the agent itself.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from agent_console.agents.errors import Conflict, InvalidInput, NotFound, Unavailable
from agent_console.runtime import isolation, paths

GIT_SECONDS = 30.0
DIFF_LIMIT = 2_000_000  # characters of a diff shown; a longer one is cut, saying so


class WorktreeError(InvalidInput):
    """A worktree cannot be made or used as asked; the message says what and where."""


class WorktreeConflict(WorktreeError, Conflict):
    pass


class WorktreeNotFound(WorktreeError, NotFound):
    pass


class GitUnavailable(WorktreeError, Unavailable):
    pass


@dataclass(frozen=True)
class Worktree:
    """An agent's worktree: where it is, its branch, and the repository and branch it was made from."""

    agent: str
    repo: Path
    path: Path
    branch: str
    base: str

    def cwd_for(self, cwd: Path) -> Path:
        """Where in the worktree an agent whose `cwd` is a folder of the repository starts: the same folder."""
        try:
            inside = Path(cwd).resolve().relative_to(self.repo.resolve())
        except ValueError:
            return self.path
        return self.path / inside if (self.path / inside).is_dir() else self.path


@dataclass(frozen=True)
class WorktreeStatus:
    """What the health table shows: uncommitted changes and commits not on the base."""

    branch: str
    uncommitted: int
    ahead: int

    @property
    def changed(self) -> bool:
        return bool(self.uncommitted or self.ahead)


def branch_name(org: str, agent: str) -> str:
    return f"agent/{org}/{agent}"


def location(repo: Path, org: str, agent: str) -> Path:
    return repo.parent / f"{repo.name}.worktrees" / org / agent


# Not the repository's hooks nor its file-system monitor: programs an agent could have set.
SAFE_CONFIG = ("-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false")


def _sandbox() -> list[str]:
    """bubblewrap's command line around the console's git, when bubblewrap works here."""
    program = shutil.which("bwrap")
    if program is None or isolation.probe(program) is not None:
        return []
    return [program, *isolation.sandbox_arguments(), "--"]


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`git -C cwd args…`, its output as text; a failure (when `check`) raises WorktreeError with git's words."""
    command = [*_sandbox(), "git", *SAFE_CONFIG, "-C", str(cwd), *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=GIT_SECONDS, check=False)
    except FileNotFoundError:
        raise GitUnavailable("git is not installed (not on PATH): worktrees need it") from None
    except subprocess.TimeoutExpired:
        raise GitUnavailable(f"git {args[0]} at {cwd} took over {GIT_SECONDS:.0f} s: stopped") from None
    if check and done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        raise WorktreeError(f"git {' '.join(args[:2])} at {cwd} failed: {said[-1] if said else done.returncode}")
    return done


# --- which agent has which worktree ---------------------------------------------------------------------------


def _registry_path(org: str) -> Path:
    return paths.state_dir(org) / "worktrees.json"


def registered(org: str) -> dict[str, Worktree]:
    """The org's agents' worktrees, by agent (those removed from the org too, until discarded)."""
    path = _registry_path(org)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise WorktreeError(f"cannot read {path}: {error}") from None
    found = {}
    for agent, item in data.items():
        found[agent] = Worktree(
            agent=agent, repo=Path(item["repo"]), path=Path(item["path"]), branch=item["branch"], base=item["base"]
        )
    return found


def _register(org: str, worktrees: dict[str, Worktree]) -> None:
    data = {agent: {k: str(v) for k, v in asdict(tree).items() if k != "agent"} for agent, tree in worktrees.items()}
    paths.write_text_atomically(_registry_path(org), json.dumps(data, indent=2, sort_keys=True))


def find(org: str, agent: str) -> Worktree:
    tree = registered(org).get(agent)
    if tree is None:
        raise WorktreeNotFound(f"{agent} has no worktree (only agents with worktree = true or --worktree do)")
    return tree


# --- making one -------------------------------------------------------------------------------------------------


def repository(cwd: Path, agent: str) -> Path:
    """The top of the git repository `cwd` is in, or WorktreeError saying so."""
    if not cwd.is_dir():
        raise WorktreeError(f"{agent}: its cwd {cwd} is not a directory: a worktree is made from a git repository")
    done = git(cwd, "rev-parse", "--show-toplevel", check=False)
    if done.returncode != 0:
        raise WorktreeError(
            f"{agent}: its cwd {cwd} is not in a git repository: a worktree needs one "
            "(run git init there, or leave worktree out)"
        )
    return Path(done.stdout.strip())


def ensure(org: str, agent: str, cwd: Path) -> Worktree:
    """The agent's worktree, made on first use and the same one ever after (restart, `up` again)."""
    known = registered(org)
    tree = known.get(agent)
    if tree is not None and (tree.path / ".git").exists():
        return tree
    repo = repository(cwd, agent)
    base = git(repo, "symbolic-ref", "--quiet", "--short", "HEAD", check=False).stdout.strip()
    if tree is not None:
        repo, base = tree.repo, tree.base
    elif not base:
        raise WorktreeError(
            f"{agent}: the repository at {repo} has no branch checked out (a detached HEAD): "
            "check out the branch its worktree should start from"
        )
    branch = branch_name(org, agent)
    path = location(repo, org, agent)
    if path.exists() and any(path.iterdir()):
        raise WorktreeConflict(f"{agent}: {path} exists and is not its worktree: move it away, or rename the agent")
    exists = git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False).returncode == 0
    if exists:
        ours = tree is not None
        merged = git(repo, "merge-base", "--is-ancestor", branch, base, check=False).returncode == 0
        if not ours and not merged:
            raise WorktreeConflict(
                f"{agent}: branch {branch} exists at {repo} with commits not on {base} (not made by this console): "
                f"delete it (git branch -D {branch}) or rename the agent"
            )
        git(repo, "worktree", "prune")  # a worktree folder removed by hand leaves its record behind
        git(repo, "worktree", "add", str(path), branch)
    else:
        git(repo, "worktree", "add", "-b", branch, str(path), base)
    tree = Worktree(agent=agent, repo=repo, path=path, branch=branch, base=base)
    _register(org, {**known, agent: tree})
    return tree


# --- reading one ------------------------------------------------------------------------------------------------


def status(tree: Worktree) -> WorktreeStatus:
    uncommitted = git(tree.path, "status", "--porcelain", "--untracked-files=normal").stdout.splitlines()
    ahead = git(tree.path, "rev-list", "--count", f"{tree.base}..HEAD").stdout.strip()
    return WorktreeStatus(branch=tree.branch, uncommitted=len(uncommitted), ahead=int(ahead or 0))


def diff(tree: Worktree) -> str:
    """The worktree against its base: its commits and its uncommitted changes (new files named at the end)."""
    if not (tree.path / ".git").exists():
        raise WorktreeNotFound(f"{tree.agent}'s worktree {tree.path} is gone (removed by hand?)")
    fork = git(tree.path, "merge-base", tree.base, "HEAD").stdout.strip()
    text = git(tree.path, "diff", "--no-color", "--no-ext-diff", "--no-textconv", fork).stdout
    untracked = git(tree.path, "ls-files", "--others", "--exclude-standard").stdout.splitlines()
    if untracked:
        text += "".join(f"# new file, not yet added: {name}\n" for name in untracked)
    if len(text) > DIFF_LIMIT:
        text = text[:DIFF_LIMIT] + f"\n# … cut at {DIFF_LIMIT} characters (see: git -C {tree.path} diff {fork})\n"
    return text


def head(tree: Worktree) -> str:
    return git(tree.path, "rev-parse", "HEAD").stdout.strip()


# --- the operations the human approves ------------------------------------------------------------------------


def merge(tree: Worktree, commit: str) -> str:
    """Merge `commit` (the branch's head when the merge was asked for) into the base at the repository. A
    conflict, or a repository not ready, leaves the repository as it was and says why."""
    current = git(tree.repo, "symbolic-ref", "--quiet", "--short", "HEAD", check=False).stdout.strip()
    if current != tree.base:
        raise WorktreeConflict(
            f"not merged: the repository at {tree.repo} has {current or 'a detached HEAD'} checked out, "
            f"not {tree.base}: check out {tree.base} there and ask again"
        )
    dirty = git(tree.repo, "status", "--porcelain", "--untracked-files=no").stdout.strip()
    if dirty:
        raise WorktreeConflict(
            f"not merged: the repository at {tree.repo} has uncommitted changes: commit or stash them and ask again"
        )
    message = f"Merge {tree.branch} (agent {tree.agent})"
    done = git(tree.repo, "merge", "--no-ff", "--no-edit", "-m", message, commit, check=False)
    if done.returncode != 0:
        conflicted = git(tree.repo, "diff", "--name-only", "--diff-filter=U", check=False).stdout.split()
        git(tree.repo, "merge", "--abort", check=False)
        if conflicted:
            raise WorktreeConflict(
                f"not merged: {tree.branch} conflicts with {tree.base} in {', '.join(conflicted)}; "
                f"{tree.repo} is as it was"
            )
        said = (done.stderr or done.stdout).strip().splitlines()
        raise WorktreeConflict(f"not merged: git merge failed: {said[-1] if said else done.returncode}")
    merged = git(tree.repo, "rev-parse", "--short", "HEAD").stdout.strip()
    return f"merged {tree.branch} ({commit[:12]}) into {tree.base} at {tree.repo}: now {merged}"


def discard(org: str, tree: Worktree) -> str:
    """Remove the worktree (its uncommitted changes with it) and delete its branch."""
    if (tree.path / ".git").exists():
        git(tree.repo, "worktree", "remove", "--force", str(tree.path))
    git(tree.repo, "worktree", "prune")
    if git(tree.repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{tree.branch}", check=False).returncode == 0:
        git(tree.repo, "branch", "-D", tree.branch)
    for folder in (tree.path.parent, tree.path.parent.parent):  # the org's and the repository's folders, if empty
        try:
            folder.rmdir()
        except OSError:
            break
    known = registered(org)
    known.pop(tree.agent, None)
    _register(org, known)
    return f"discarded {tree.agent}'s worktree {tree.path} and deleted branch {tree.branch}"
