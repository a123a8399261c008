"""Org specs: the example loads; every kind of mistake gets one line naming file, key and problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_console.agents.events import OrgEdit
from agent_console.agents.limits import Limits
from agent_console.agents.model import Agent, AgentKind, Org, Role, Team
from agent_console.agents.spec import (
    SpecError,
    apply_edits,
    describe_edit,
    dump_spec,
    edits_between,
    load_spec,
    merge_edits,
    parse_spec,
)

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
    chief = load_spec(EXAMPLE.parent / "exec.toml").executive  # the exec as a real agent program
    assert chief is not None and chief.kind is AgentKind.CLAUDE
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
        (
            GOOD + "\n[teams]\nx = 1\n",
            "teams: unknown key (allowed at the top level: org, team, agent, executive, observability)",
        ),
        (
            GOOD.replace('role = "coordinator"', 'role = "exec"').replace('kind = "claude"', 'role = "exec"'),
            "agent[1] (\"lead\").role: only one agent may have role 'exec' ('api' has it already)",
        ),
        (GOOD.replace('name = "lead"', 'name = "exec"'), "agent[1] (\"exec\").name: 'exec' is reserved"),
        (GOOD.replace('name = "lead"', 'name = "human"'), "agent[1] (\"human\").name: 'human' is reserved"),
        (GOOD.replace('name = "backend"', 'name = "supervisor"', 1), "team[0] (\"supervisor\").name: 'supervisor' is"),
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


# --- writing a spec, and the console's changes replayed over one ----------------------------------------------


def test_a_written_spec_loads_back_as_the_same_org(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    org = Org(
        name="x",
        redact=(r"ACME-[0-9]{6}", 'a "quoted" \\d'),
        limits=Limits(window=5, pending_approvals=3),
        teams=(Team(name="ops", color="#AABBCC"), Team(name="db", parent="ops")),
        agents=(
            Agent(name="a", team="ops", cwd=tmp_path, env={"FOO": 'a "quote", a \\ and\ttabs\n\x7f', "E": ""}),
            Agent(name="b", team="db", kind="claude", role="coordinator", cwd=tmp_path / "sub", stuck_after=30),
            Agent(name="c", team="db", command="bash -c 'echo #not a comment; echo ä'", cwd=Path("/")),
        ),
    )
    text = dump_spec(org, tmp_path / "x.toml")
    (tmp_path / "x.toml").write_text(text)
    assert load_spec(tmp_path / "x.toml") == org
    assert 'cwd = "."' in text and 'cwd = "sub"' in text and 'cwd = "/"' in text  # relative where it can be
    assert "kind" not in text.split('name = "a"')[1].split("[[agent]]")[0]  # defaults are left out


def test_an_empty_org_is_written_as_just_its_name(tmp_path: Path) -> None:
    assert dump_spec(Org(name="console"), tmp_path / "c.toml") == '[org]\nname = "console"\n'
    assert parse_spec(dump_spec(Org(name="console"), tmp_path / "c.toml")) == Org(name="console")


def _agent(name: str, team: str = "core") -> Agent:
    return Agent(name=name, team=team, command="bash", cwd=Path("/tmp"))


BASE = Org(name="crew", teams=(Team(name="core"),), agents=(_agent("ann"), _agent("bob")))


def test_edits_between_two_orgs_replay_to_the_second() -> None:
    changed = _agent("bob").model_copy(update={"command": "zsh"})
    after = Org(
        name="crew",
        teams=(Team(name="core"), Team(name="ops", parent="core")),
        agents=(changed, _agent("dan", "ops")),
    )
    edits = edits_between(BASE, after)
    assert [describe_edit(edit) for edit in edits] == [
        "team new ops --parent core",
        "kill ann",
        "kill bob",
        "spawn bob --team core",
        "spawn dan --team ops",
    ]
    org, applied, skipped = apply_edits(BASE, edits)
    assert org == after and applied == edits and skipped == []


def test_an_agent_spawned_then_killed_leaves_no_edit_but_a_spec_agent_killed_does() -> None:
    spawn = OrgEdit(action="add-agent", name="dan", table={"name": "dan", "team": "core"})
    kill_dan = OrgEdit(action="remove-agent", name="dan")
    kill_ann = OrgEdit(action="remove-agent", name="ann")
    assert merge_edits([spawn], [kill_dan]) == ()
    respawn_ann = OrgEdit(action="add-agent", name="ann", table={"name": "ann", "team": "core"})
    assert merge_edits([kill_ann], [respawn_ann]) == (kill_ann, respawn_ann)  # the spec's ann goes, a new one comes
    assert merge_edits([spawn, kill_ann], [kill_dan]) == (kill_ann,)


def test_edits_the_spec_no_longer_allows_are_skipped_with_why() -> None:
    edits = [
        OrgEdit(action="add-team", name="core", table={"name": "core"}),
        OrgEdit(action="add-agent", name="ann", table={"name": "ann", "team": "core"}),
        OrgEdit(action="add-agent", name="eve", table={"name": "eve", "team": "gone"}),
        OrgEdit(action="remove-agent", name="zed"),
        OrgEdit(action="remove-agent", name="bob"),
    ]
    org, applied, skipped = apply_edits(BASE, edits)
    assert [agent.name for agent in org.agents] == ["ann"]
    assert applied == [edits[-1]]
    assert [why for _, why in skipped] == [
        "the spec has a team 'core' already",
        "the spec has an agent 'ann' already",
        "agent[2].team: unknown team 'gone' (teams: core)",
        "the spec has no agent 'zed' any more",
    ]


def test_a_buried_agent_is_read_written_and_its_burial_replayed_in_its_place(tmp_path: Path) -> None:
    org = parse_spec(GOOD.replace('role = "coordinator"', 'role = "coordinator"\nburied = true'))
    assert [agent.name for agent in org.agents if agent.buried] == ["lead"]
    text = dump_spec(org, tmp_path / "org.toml")
    assert "buried = true" in text.split('name = "lead"')[1].split("[[agent]]")[0]
    assert parse_spec(text, tmp_path / "org.toml").agent("lead").buried

    buried = BASE.replaced(agents=(_agent("ann").model_copy(update={"buried": True}), _agent("bob")))
    edits = edits_between(BASE, buried)
    assert [describe_edit(edit) for edit in edits] == ["ann buried, worker"]
    replayed, applied, skipped = apply_edits(BASE, edits)
    assert applied == edits
    assert replayed == buried and skipped == []
    assert [agent.name for agent in replayed.agents] == ["ann", "bob"]  # in its place, not moved to the end
    # Unburying a spec agent buried in the console leaves no edit; a spawned agent's burial is folded into its spawn.
    unbury = edits_between(buried, BASE)
    assert [describe_edit(edit) for edit in unbury] == ["ann on screen, worker"]
    assert merge_edits(edits, unbury, spec=BASE) == ()
    assert merge_edits(edits, unbury) == tuple(unbury)  # without the spec, the last change stands
    assert merge_edits([], unbury) == tuple(unbury)  # a spec agent buried in the file, unburied in the console
    spawn = OrgEdit(action="add-agent", name="dan", table={"name": "dan", "team": "core"})
    bury_dan = OrgEdit(action="change-agent", name="dan", table={"name": "dan", "team": "core", "buried": True})
    assert merge_edits([spawn], [bury_dan]) == (OrgEdit(action="add-agent", name="dan", table=bury_dan.table),)
    assert merge_edits([spawn, bury_dan], [OrgEdit(action="remove-agent", name="dan")]) == ()
    # A spec that no longer has the agent drops its burial, saying why.
    _, _, skipped = apply_edits(BASE.replaced(agents=(_agent("bob"),)), edits)
    assert [why for _, why in skipped] == ["the spec has no agent 'ann' any more"]


def test_observability_names_a_collector_and_refuses_what_is_not_one(tmp_path: Path) -> None:
    spec = tmp_path / "org.toml"
    spec.write_text(GOOD + '\n[observability]\notlp_endpoint = "http://127.0.0.1:4318/"\n')
    org = load_spec(spec)
    assert org.observability.otlp_endpoint == "http://127.0.0.1:4318"
    assert parse_spec(dump_spec(org, spec), spec).observability == org.observability
    for value, problem in (
        ("ftp://collector", "'ftp://collector' is not an http(s) address like http://127.0.0.1:4318"),
        ("http://me:hunter2@collector", "it is not an http(s) address"),
    ):
        spec.write_text(GOOD + f'\n[observability]\notlp_endpoint = "{value}"\n')
        with pytest.raises(SpecError) as raised:
            load_spec(spec)
        assert "observability.otlp_endpoint" in str(raised.value) and problem in str(raised.value)
        assert "hunter2" not in str(raised.value)
