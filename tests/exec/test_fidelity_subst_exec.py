"""``runner exec`` of a Drone 0.8 file that writes secrets into the file, on the real Docker
engine: secrets given with ``--secret`` and ``--secrets-file`` are the user's own, so
``password: ${MY_SECRET}``, an environment entry and a command receive them, and the output
shows them masked; a Drone 1.x file's ``${MY_SECRET}`` stays empty, as Drone 1.x only hands
secrets out through ``from_secret``, whose name matches in any case.

Drone 0.5-0.8 substituted a secret into the file when it allowed it (``drone secret add
--skip-verify``); drone/drone-runner-docker ``command/compile.go`` (Drone 1.x's ``drone exec``)
builds the substitution variables from the build's environment only, never from secrets.
"""

from __future__ import annotations

import textwrap

import pytest

from tests.exec.conftest import step_lines

pytestmark = pytest.mark.docker

HEAD, TAIL = "tok-", "9f8e7d"
VALUE = HEAD + TAIL  # the files compare in two halves, so they never hold the value


@pytest.fixture
def project(tmp_path):
    work = tmp_path / "project"
    work.mkdir()
    return work


def test_drone08_file_receives_exec_secrets_masked(runner_exec, project, tmp_path):
    (project / ".drone.yml").write_text(
        textwrap.dedent(
            f"""\
            pipeline:
              publish:
                image: runner-test/busybox
                password: ${{MY_SECRET}}
                environment:
                  - AUTH=bearer-${{my_secret}}
                commands:
                  - echo "password $PLUGIN_PASSWORD auth $AUTH key ${{DEPLOY_KEY}}"
                  - test "$PLUGIN_PASSWORD" = "{HEAD}""{TAIL}" && echo matches
                  - test "$AUTH" = "bearer-{HEAD}""{TAIL}" && echo auth matches
            """
        )
    )
    secrets = tmp_path / "secrets.env"
    secrets.write_text("DEPLOY_KEY=key-from-file-77\n")
    proc = runner_exec("--secret", f"MY_SECRET={VALUE}", "--secrets-file", str(secrets))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = step_lines(proc.stdout, "publish")
    assert "password ****** auth bearer-****** key ******" in lines, lines
    assert "matches" in lines and "auth matches" in lines
    assert VALUE not in proc.stdout + proc.stderr
    assert "key-from-file-77" not in proc.stdout + proc.stderr


def test_drone1_file_gets_no_secret_by_substitution_and_from_secret_ignores_case(
    runner_exec, project
):
    (project / ".drone.yml").write_text(
        textwrap.dedent(
            """\
            kind: pipeline
            type: docker
            name: default
            steps:
            - name: publish
              image: runner-test/busybox
              environment:
                PASSWORD: ${MY_SECRET}
                TOKEN:
                  from_secret: My_Secret
              commands:
              - test -z "$PASSWORD" && echo empty
              - echo "token $TOKEN"
            """
        )
    )
    proc = runner_exec("--secret", f"MY_SECRET={VALUE}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = step_lines(proc.stdout, "publish")
    assert "empty" in lines
    # from_secret names are case-insensitive too (drone/drone plugin/secret/static.go).
    assert "token ******" in lines and VALUE not in proc.stdout
