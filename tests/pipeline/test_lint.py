"""Lint: each kind of bad input gives one clear issue with file, line and field path, never a
traceback; warnings do not block; the trust rule and its allow-list."""

import pytest

from runner.pipeline.lint import lint_files

STEP = "kind: pipeline\nname: ci\nsteps:\n- name: build\n  image: alpine\n  commands: [make]\n"


def errors(text, name=".drone.yml", **kw):
    return [i for i in lint_files({name: text}, **kw) if i.blocking]


def only_error(text, **kw):
    found = errors(text, **kw)
    assert len(found) == 1, [i.format() for i in found]
    return found[0]


def test_valid_file_has_no_issue():
    assert lint_files({".drone.yml": STEP}) == []


def test_malformed_yaml():
    issue = only_error("kind: pipeline\nsteps:\n- name: a\n  image: [b\n")
    assert issue.file == ".drone.yml" and issue.line >= 4
    assert "invalid YAML" in issue.message


def test_wrong_type():
    issue = only_error(STEP + "  privileged: sometimes\n")
    assert (issue.line, issue.path) == (7, "steps[0].privileged")
    assert "true or false" in issue.message


def test_steps_not_a_list():
    issue = only_error("kind: pipeline\nname: x\nsteps:\n  build:\n    image: a\n")
    assert issue.path == "steps" and "list of steps" in issue.message


def test_unknown_step_key_is_a_warning_with_did_you_mean():
    issues = lint_files({".drone.yml": STEP + "  comands: [make]\n"})
    assert [(i.level, i.line, i.path) for i in issues] == [("warning", 7, "steps[0].comands")]
    assert 'did you mean "commands"' in issues[0].message
    assert issues[0].format().startswith(".drone.yml:7: warning: steps[0].comands: ")


def test_depends_misspelled_gets_a_hint():
    issues = lint_files({".drone.yml": STEP + "  depends: [x]\n"})
    assert 'did you mean "depends_on"' in issues[0].message


def test_undefined_depends_on_target():
    issue = only_error(
        STEP + "  depends_on: [biuld]\n- name: test\n  image: a\n  depends_on: [build]\n"
    )
    assert issue.line == 7 and issue.path == "steps[0].depends_on"
    assert '"biuld"' in issue.message


def test_dependency_cycle():
    text = STEP + "  depends_on: [test]\n- name: test\n  image: a\n  depends_on: [build]\n"
    issue = only_error(text)
    assert "cycle" in issue.message and "build -> test -> build" in issue.message


def test_a_dependency_cycle_through_a_matrix_pipeline_is_an_error():
    steps = "steps:\n  s:\n    image: a\n"
    files = {
        ".woodpecker/a.yml": "matrix:\n  X: [1, 2]\ndepends_on: [b]\n" + steps,
        ".woodpecker/b.yml": "depends_on: [a]\n" + steps,
    }
    found = [i for i in lint_files(files) if i.blocking]
    assert [i.message for i in found] == [
        "pipeline dependency cycle: a (X=1) -> b -> a (X=1); remove one depends_on"
    ]


def test_invalid_substitution():
    issue = only_error(STEP + "  environment:\n    V: ${DRONE_TAG!x}\n")
    assert issue.line == 8 and "unsupported operator" in issue.message


def test_reserved_and_duplicate_step_names():
    text = STEP + "- name: build\n  image: b\n- name: clone\n  image: c\n"
    messages = [i.message for i in errors(text)]
    assert any("duplicate step name" in m for m in messages)
    assert any("reserved" in m for m in messages)


def test_every_issue_at_once():
    text = STEP + "  privileged: maybe\n  depends_on: [nope]\n- name: two\n  commands: [x]\n"
    assert len(errors(text)) == 3


def test_trust_rule_docker_socket():
    text = (
        "kind: pipeline\nname: ci\nsteps:\n- name: x\n  image: docker:24\n  volumes:\n"
        "  - name: sock\n    path: /var/run/docker.sock\nvolumes:\n- name: sock\n  host:\n"
        "    path: /var/run/docker.sock\n"
    )
    issue = only_error(text)
    assert issue.line == 4 and issue.message == (
        'step "x" (docker:24) asks for the Docker socket /var/run/docker.sock, which needs a '
        "trusted repository: ask a server admin to mark it trusted, or use a plugin image of "
        "the agents' privileged list"
    )
    assert errors(text, trusted=True) == []
    assert errors(text, privileged_images=["docker"]) == []
    assert errors(text, privileged_images=["docker:24"]) == []
    as_script = text.replace("  volumes:\n", "  commands: [id]\n  volumes:\n", 1)
    assert "only as shipped" in only_error(as_script, privileged_images=["docker"]).message


@pytest.mark.parametrize("extra", ["  privileged: true\n", "  network_mode: host\n"])
def test_trust_rule_privileged_and_network_mode(extra):
    assert "trusted repository" in only_error(STEP + extra).message


def test_type_the_docker_engine_cannot_run_is_a_warning():
    issues = lint_files({".drone.yml": STEP.replace("name: ci", "name: ci\ntype: kubernetes")})
    assert len(issues) == 1 and issues[0].level == "warning"
    assert "not runnable by the Docker engine" in issues[0].message


def test_privileged_under_environment_is_pointed_out():
    issues = lint_files({".drone.yml": STEP + "  environment:\n    privileged: true\n"})
    assert any("move it one level up" in i.message for i in issues)


def test_woodpecker_unknown_key_and_duplicate_warning():
    text = "steps:\n  build:\n    image: a\n    commands: [x]\n    imgae: b\n"
    issues = lint_files({".woodpecker.yml": text})
    assert [i.path for i in issues] == ["steps.build.imgae"]


def test_mutated_files_never_crash():
    import random
    from pathlib import Path

    from runner.errors import PipelineError
    from runner.pipeline.config import load_pipeline
    from runner.pipeline.spec import BuildContext

    rng = random.Random(7)
    sources = [p.read_text() for p in sorted((Path(__file__).parent / "golden").glob("*.yml"))]
    for _ in range(300):
        lines = rng.choice(sources).split("\n")
        index = rng.randrange(len(lines))
        mutation = rng.randrange(4)
        if mutation == 0:
            lines = lines[:index]
        elif mutation == 1:
            lines[index] = lines[index].lstrip()
        elif mutation == 2:
            lines[index] = lines[index].replace(":", ": [x]", 1)
        else:
            lines[index] += " {a: 1}"
        text = "\n".join(lines)
        for name in (".drone.yml", ".woodpecker.yml"):
            assert all(i.message for i in lint_files({name: text}))
            try:
                load_pipeline({name: text}, BuildContext(), trusted=True)
            except PipelineError as exc:
                assert exc.issues or exc.line or str(exc)


def test_reserved_volume_name():
    text = (
        STEP
        + "  volumes:\n  - name: workspace\n    path: /w\nvolumes:\n- name: workspace\n  temp: {}\n"
    )
    assert "reserved" in only_error(text).message


def test_no_file_at_all_is_an_error():
    from runner.errors import PipelineError
    from runner.pipeline.config import load_pipeline
    from runner.pipeline.spec import BuildContext

    with pytest.raises(PipelineError, match="no pipeline file"):
        load_pipeline({}, BuildContext())


CLONE = "kind: pipeline\nname: ci\nclone:\n  depth: {}\n" + STEP.split("name: ci\n", 1)[1]
WOODPECKER_CLONE = (
    "clone:\n  git:\n    image: woodpeckerci/plugin-git\n    settings:\n      depth: {}\n"
    "steps:\n  build:\n    image: alpine\n    commands: [make]\n"
)


@pytest.mark.parametrize(
    "written",
    ['"²"', '"٣"', '"' + "9" * 5000 + '"', "9" * 5000, "9" * 26, "-3", '"1_000"', "1.5", "[1]"],
    ids=[
        "superscript",
        "arabic-digit",
        "5000-digits-quoted",
        "5000-digits",
        "huge",
        "negative",
        "underscore-text",
        "fraction",
        "list",
    ],
)
def test_a_clone_depth_that_is_no_whole_number_in_range_is_an_error_at_its_line(written):
    issue = only_error(CLONE.format(written))
    assert (issue.line, issue.path) == (4, "clone.depth"), issue.format()
    assert "expected a whole number from 0 to 2147483647" in issue.message
    assert len(issue.message) < 120  # 5000 digits are not echoed back


def test_a_woodpecker_clone_depth_of_other_digits_is_an_error_too():
    issues = [
        i for i in lint_files({".woodpecker.yml": WOODPECKER_CLONE.format('"²"')}) if i.blocking
    ]
    assert [(i.line, "whole number" in i.message) for i in issues] == [(5, True)], issues


def test_clone_depths_of_ascii_digits_still_work():
    from runner.pipeline.config import load_pipeline
    from runner.pipeline.spec import BuildContext

    for written in ("12", '"12"', '" 12 "'):
        build = load_pipeline({".drone.yml": CLONE.format(written)}, BuildContext())
        assert build.stages[0].clone.depth == 12, written
