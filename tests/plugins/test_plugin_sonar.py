"""The sonar plugin turns settings into scanner arguments (token only in the environment),
then follows the analysis and fails the step when the recorded quality-gate answer is ERROR."""

from __future__ import annotations

import json
import stat

import pytest
import sonar_plugin

TOKEN = "squ_0123456789abcdef"
TASK = "AYx-task-1"
ANALYSIS = "AYx-analysis-9"

# Answers recorded from SonarQube 10 (trimmed to the fields the plugin reads).
CE_PENDING = {"task": {"id": TASK, "type": "REPORT", "status": "IN_PROGRESS"}}
CE_SUCCESS = {"task": {"id": TASK, "type": "REPORT", "status": "SUCCESS", "analysisId": ANALYSIS}}
GATE_OK = {
    "projectStatus": {
        "status": "OK",
        "conditions": [
            {
                "status": "OK",
                "metricKey": "new_coverage",
                "comparator": "LT",
                "errorThreshold": "80",
                "actualValue": "91.5",
            }
        ],
    }
}
GATE_ERROR = {
    "projectStatus": {
        "status": "ERROR",
        "conditions": [
            {
                "status": "ERROR",
                "metricKey": "new_coverage",
                "comparator": "LT",
                "errorThreshold": "80",
                "actualValue": "41.2",
            },
            {
                "status": "OK",
                "metricKey": "new_bugs",
                "comparator": "GT",
                "errorThreshold": "0",
                "actualValue": "0",
            },
        ],
    }
}

FAKE_SCANNER = """#!/bin/sh
# Records what it was given and leaves report-task.txt as the real scanner does.
printf '%s\\n' "$@" > scanner-args.txt
echo "token=${SONAR_TOKEN}" > scanner-env.txt
mkdir -p .scannerwork
cat > .scannerwork/report-task.txt <<EOT
projectKey=team:app
serverUrl=SERVER
dashboardUrl=SERVER/dashboard?id=team%3Aapp
ceTaskId=AYx-task-1
ceTaskUrl=SERVER/api/ce/task?id=AYx-task-1
EOT
echo "INFO: ANALYSIS SUCCESSFUL"
"""


def _workspace(tmp_path, server):
    ws = tmp_path / "ws"
    ws.mkdir()
    script = ws / "fake-scanner"
    script.write_text(FAKE_SCANNER.replace("SERVER", server))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return ws


def _env(plugin_env, receiver, **extra):
    env = dict(
        plugin_env,
        PLUGIN_HOST=receiver.url,
        PLUGIN_TOKEN=TOKEN,
        PLUGIN_SCANNER="./fake-scanner",
        PLUGIN_SOURCES="src",
        PLUGIN_EXCLUSIONS="**/vendor/**",
        PLUGIN_POLL_INTERVAL="0.01",
    )
    env.update(extra)
    return env


def _answer(receiver, gate):
    pending = [CE_PENDING]
    receiver.answers["/api/ce/task"] = lambda path: json.dumps(
        pending.pop() if pending else CE_SUCCESS
    ).encode()
    receiver.answers["/api/qualitygates/project_status"] = json.dumps(gate).encode()


def test_settings_become_scanner_arguments(plugin_env):
    env = dict(
        plugin_env,
        PLUGIN_SONAR_HOST="https://sonar.example.com/",
        PLUGIN_SONAR_TOKEN=TOKEN,
        PLUGIN_SOURCES="src,lib",
        PLUGIN_BRANCH="main",
        PLUGIN_PROPERTIES='{"sonar.python.version": "3.12"}',
    )
    args, extra_env, host = sonar_plugin.scanner_args(sonar_plugin.Settings(env))
    assert host == "https://sonar.example.com"
    assert "-Dsonar.projectKey=team:app" in args  # from DRONE_REPO when no key is set
    assert "-Dsonar.host.url=https://sonar.example.com" in args
    assert "-Dsonar.sources=src,lib" in args
    assert "-Dsonar.projectVersion=1.2.3" in args  # from the tag, without v
    assert "-Dsonar.branch.name=main" in args
    assert "-Dsonar.python.version=3.12" in args
    assert f"-Dsonar.scm.revision={plugin_env['DRONE_COMMIT_SHA']}" in args
    assert not any(TOKEN in a for a in args)
    assert extra_env["SONAR_TOKEN"] == TOKEN


def test_gate_ok_passes(plugin_env, receiver, in_process, tmp_path):
    _answer(receiver, GATE_OK)
    ws = _workspace(tmp_path, receiver.url)
    code, out = in_process(sonar_plugin.main, _env(plugin_env, receiver), cwd=ws)
    assert code == 0, out
    assert "quality gate OK" in out and TOKEN not in out
    assert (ws / "scanner-env.txt").read_text().strip() == f"token={TOKEN}"
    args = (ws / "scanner-args.txt").read_text().splitlines()
    assert "-Dsonar.exclusions=**/vendor/**" in args
    paths = [r.path for r in receiver.requests]
    assert paths[:2] == [f"/api/ce/task?id={TASK}"] * 2
    assert paths[2] == f"/api/qualitygates/project_status?analysisId={ANALYSIS}"
    assert receiver.requests[0].headers["Authorization"].startswith("Basic ")


def test_gate_error_fails_the_step_with_the_conditions(plugin_env, receiver, in_process, tmp_path):
    _answer(receiver, GATE_ERROR)
    ws = _workspace(tmp_path, receiver.url)
    code, out = in_process(sonar_plugin.main, _env(plugin_env, receiver), cwd=ws)
    assert code == 1
    last = out.strip().splitlines()[-1]
    assert last.startswith("error: quality gate failed (new_coverage is 41.2, must not be LT 80)")
    assert "dashboard?id=team%3Aapp" in last


def test_missing_token_is_one_line(plugin_env, in_process):
    code, out = in_process(sonar_plugin.main, dict(plugin_env, PLUGIN_HOST="http://sonar"))
    assert code == 1
    assert out.count("\n") == 1 and "missing required setting 'token'" in out


def test_missing_scanner_says_what_to_do(plugin_env, receiver, in_process, tmp_path):
    env = _env(plugin_env, receiver, PLUGIN_SCANNER="no-such-scanner")
    code, out = in_process(sonar_plugin.main, env, cwd=tmp_path)
    assert code == 1
    assert "'no-such-scanner' not found" in out.splitlines()[-1]


@pytest.mark.docker
def test_plugin_image_runs_the_scanner_and_reads_the_gate(
    plugin_images, run_plugin, receiver, plugin_env, tmp_path
):
    _answer(receiver, GATE_ERROR)
    ws = _workspace(tmp_path, receiver.url)
    result = run_plugin(
        plugin_images["sonar"], _env(plugin_env, receiver), workspace=ws, host_network=True
    )
    assert result.exit_code == 1
    assert "quality gate failed" in result.output and TOKEN not in result.output
