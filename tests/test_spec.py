"""Org specs: the example loads; every kind of mistake gets one line naming file, key and problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_console.agents.model import AgentKind, Role
from agent_console.agents.spec import SpecError, load_spec, parse_spec

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "team.toml"

GOOD = """
[org]
name = "api"

[[team]]
name = "backend"
color = "#3B82F6"

[[team]]
name = "db"
parent = "backend"

[[agent]]
name = "api"
team = "backend"
kind = "claude"
cwd = "."
env = { FOO = "1" }

[[agent]]
name = "lead"
team = "backend"
role = "coordinator"

[[agent]]
name = "schema"
team = "db"
kind = "shell"
command = "bash --norc"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "org.toml"
    path.write_text(text)
    return path


def error_for(tmp_path: Path, text: str) -> SpecError:
    with pytest.raises(SpecError) as caught:
        load_spec(write(tmp_path, text))
    return caught.value


def test_example_spec_loads_with_cwd_relative_to_the_file() -> None:
    org = load_spec(EXAMPLE)
    assert org.name == "api"
    assert [team.name for team in org.teams] == ["backend", "db", "frontend"]
    assert org.team("db").parent == "backend"
    assert org.agent("api").env == {"SERVICE": "api"}
    assert org.agent("api").cwd == EXAMPLE.parent
    assert org.agent("lead").role is Role.COORDINATOR


@pytest.mark.parametrize("spec", sorted(EXAMPLE.parent.glob("*.toml")), ids=lambda path: path.name)
def test_every_example_loads(spec: Path) -> None:
    assert load_spec(spec).agents


def test_the_examples_hold_real_agents_and_a_shell_demo_and_nothing_else() -> None:
    kinds = {path.name: {agent.kind for agent in load_spec(path).agents} for path in EXAMPLE.parent.glob("*.toml")}
    assert kinds["team.toml"] == {AgentKind.SHELL}
    assert kinds["agents.toml"] >= {AgentKind.CLAUDE, AgentKind.CODEX, AgentKind.AIDER}
    assert [path.name for path in EXAMPLE.parent.iterdir() if path.suffix != ".toml"] == []  # no empty folders


def test_spec_fields_and_defaults(tmp_path: Path) -> None:
    org = load_spec(write(tmp_path, GOOD))
    api = org.agent("api")
    assert api.kind is AgentKind.CLAUDE
    assert api.launch_command == "claude"  # the kind's default
    assert api.cwd == tmp_path
    assert org.agent("lead").kind is AgentKind.SHELL and org.agent("lead").launch_command is None
    assert org.agent("schema").launch_command == "bash --norc"
    assert org.team("backend").color == "#3b82f6"
    assert [agent.name for agent in org.members("backend")] == ["lead", "api"]  # coordinator first
    assert [team.name for team in org.subteams("backend")] == ["db"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD.replace('team = "db"', 'team = "dba"'),
            "agent[2] (\"schema\").team: unknown team 'dba' (teams: backend, db)",
        ),
        (GOOD.replace('name = "lead"', 'name = "api"'), "agent[1] (\"api\").name: duplicate agent name 'api'"),
        (
            GOOD.replace('name = "backend"\ncolor', 'name = "backend"\nparent = "db"\ncolor'),
            'team[0] ("backend").parent: cycle in team parents: backend -> db -> backend',
        ),
        (GOOD.replace('parent = "backend"', 'parent = "nope"'), "team[1] (\"db\").parent: unknown team 'nope'"),
        (GOOD.replace('kind = "claude"', 'kind = "gpt"'), 'agent[0] ("api").kind: Input should be'),
        (GOOD.replace('name = "lead"', 'name = "Lead Dev"'), "agent[1] (\"Lead Dev\").name: 'Lead Dev' is not a valid"),
        (GOOD.replace('cwd = "."', 'cwd = "missing/dir"'), 'agent[0] ("api").cwd: no such directory:'),
        (GOOD.replace('FOO = "1"', "FOO = 1"), 'agent[0] ("api").env.FOO: Input should be a valid string'),
        (GOOD.replace('color = "#3B82F6"', 'color = "blue"'), "team[0] (\"backend\").color: 'blue' is not a colour"),
        (GOOD.replace('role = "coordinator"', 'role = "boss"'), 'agent[1] ("lead").role: Input should be'),
        (GOOD + '\n[[agent]]\nname = "x"\nteam = "db"\nmodel = "big"\n', 'agent[3] ("x").model: unknown key'),
        (GOOD.replace('[org]\nname = "api"', '[org]\nname = "api"\nowner = "me"'), "org.owner: unknown key"),
        (GOOD.replace('[org]\nname = "api"', ""), "org: missing: the spec needs an [org] table"),
        (GOOD.replace('name = "lead"\n', ""), "agent[1].name: missing (required)"),
        (GOOD.replace("[[team]]", "[team]", 1), "bad TOML"),
        (GOOD + "\n[teams]\nx = 1\n", "teams: unknown key (allowed at the top level: org, team, agent)"),
        (
            GOOD.replace('role = "coordinator"', 'role = "exec"').replace('kind = "claude"', 'role = "exec"'),
            "agent[1] (\"lead\").role: only one agent may have role 'exec' ('api' has it already)",
        ),
        (GOOD.replace('name = "lead"', 'name = "exec"'), "agent[1] (\"exec\").name: 'exec' is reserved"),
    ],
)
def test_bad_spec_names_file_key_and_problem(tmp_path: Path, text: str, expected: str) -> None:
    error = error_for(tmp_path, text)
    message = str(error)
    assert message.startswith(f"{tmp_path / 'org.toml'}"), message
    assert expected in message, message
    assert "\n" not in message and "Traceback" not in message


def test_bad_toml_gives_its_line(tmp_path: Path) -> None:
    error = error_for(tmp_path, '[org]\nname = "api"\n\n[[agent]]\nname = "x\n')
    assert error.line == 5
    assert str(error).startswith(f"{tmp_path / 'org.toml'}:5: bad TOML")


def test_missing_file_and_directory() -> None:
    with pytest.raises(SpecError, match="no such file"):
        load_spec("/nonexistent/org.toml")
    with pytest.raises(SpecError, match="is a directory"):
        load_spec(EXAMPLE.parent)


def test_spec_without_agents_is_an_empty_org() -> None:
    org = parse_spec('[org]\nname = "solo"\n')
    assert org.teams == () and org.agents == () and org.executive is None
