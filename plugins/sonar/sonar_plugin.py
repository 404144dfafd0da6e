"""Run ``sonar-scanner`` on the workspace and fail the step when the quality gate fails.

Accepts the settings of the common Drone sonar plugins (``sonar_host``/``host``,
``sonar_token``/``token``/``login``, ``sonar_key``/``project_key``, ``sources``,
``quality_gate``...). The token reaches the scanner as ``SONAR_TOKEN`` in its environment,
never on its command line. After the scan, the plugin waits for the server's analysis and
reads the quality gate (``api/ce/task``, ``api/qualitygates/project_status``). See README.md.
"""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any

import requests
from plugin_kit.output import PluginError, run, say
from plugin_kit.settings import Settings
from plugin_kit.webhook import USER_AGENT, failure_reason

# setting names (first is documented) -> scanner property
PROPERTIES = [
    (("project_name", "sonar_name", "name"), "sonar.projectName"),
    (("version", "project_version", "sonar_version"), "sonar.projectVersion"),
    (("sources",), "sonar.sources"),
    (("tests",), "sonar.tests"),
    (("exclusions", "sonar_exclusions"), "sonar.exclusions"),
    (("inclusions", "sonar_inclusions"), "sonar.inclusions"),
    (("coverage_exclusions",), "sonar.coverage.exclusions"),
    (("binaries", "java_binaries"), "sonar.java.binaries"),
    (("encoding", "source_encoding"), "sonar.sourceEncoding"),
    (("branch", "branch_name"), "sonar.branch.name"),
    (("organization",), "sonar.organization"),
]


def scanner_args(s: Settings) -> tuple[list[str], dict[str, str], str]:
    """``(arguments, extra environment, host URL)`` of the scanner run from the settings."""
    host = s.require("host", "sonar_host", "sonar_url", "url").rstrip("/")
    token = s.require_secret("token", "sonar_token", "login", "sonar_login")
    key = s.get("project_key", "sonar_key", "key")
    if not key:
        repo = s.build("DRONE_REPO", "CI_REPO")
        if not repo:
            s.require("project_key", "sonar_key", hint="or run inside a build with DRONE_REPO")
        key = repo.replace("/", ":")
    props = {"sonar.projectKey": key, "sonar.host.url": host}
    for names, prop in PROPERTIES:
        value = s.get(*names)
        if value:
            props[prop] = value
    props.setdefault("sonar.sources", ".")
    props.setdefault("sonar.projectName", key)
    tag = s.build("DRONE_TAG", "CI_COMMIT_TAG")
    props.setdefault(
        "sonar.projectVersion",
        tag.lstrip("v") if tag else s.build("DRONE_BUILD_NUMBER", "CI_BUILD_NUMBER", default="0"),
    )
    props["sonar.scm.revision"] = s.build("DRONE_COMMIT_SHA", "CI_COMMIT_SHA")
    props["sonar.links.ci"] = s.build("DRONE_BUILD_LINK", "CI_PIPELINE_URL")
    props.update(s.map("properties", "sonar_properties", "extra_properties"))
    args = [f"-D{k}={v}" for k, v in props.items() if v]
    if s.bool("debug", "verbose") or (s.get("level") or "").upper() == "DEBUG":
        args.append("-X")
    return args, {"SONAR_TOKEN": token, "SONAR_HOST_URL": host}, host


def run_scanner(command: str, args: list[str], env: dict[str, str]) -> None:
    say("+ " + " ".join([command] + args))
    try:
        proc = subprocess.Popen(
            [command] + args,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
    except FileNotFoundError:
        raise PluginError(
            f"{command!r} not found: use the pipeline-runner/sonar image built with "
            "SONAR_SCANNER_VERSION, or set 'scanner' to its path"
        ) from None
    with proc:
        for line in proc.stdout or ():
            say(line.rstrip("\n"))
    if proc.returncode != 0:
        raise PluginError(f"sonar-scanner failed (exit {proc.returncode}); see its log above")


def read_report(path: str) -> dict[str, str]:
    """The ``key=value`` lines of ``report-task.txt`` the scanner leaves behind."""
    if not os.path.isfile(path):
        raise PluginError(f"{path} not found after the scan: cannot follow the quality gate")
    out = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            key, sep, value = line.strip().partition("=")
            if sep:
                out[key] = value
    return out


class SonarClient:
    """The SonarQube web API with a user token (sent as the basic-auth user, like the scanner)."""

    def __init__(self, host: str, token: str, timeout: float = 30.0):
        self.host = host.rstrip("/")
        self.session = requests.Session()
        self.session.auth = (token, "")
        self.session.headers["User-Agent"] = USER_AGENT
        self.timeout = timeout

    def get(self, path: str, **query: str) -> Any:
        try:
            resp = self.session.get(f"{self.host}{path}", params=query, timeout=self.timeout)
        except requests.RequestException as exc:
            raise PluginError(f"SonarQube {path} failed: {failure_reason(exc)}") from None
        if resp.status_code == 401:
            raise PluginError("SonarQube refused the token (401): check the 'token' setting")
        if resp.status_code != 200:
            raise PluginError(f"SonarQube {path} answered {resp.status_code}: {resp.text[:200]}")
        return resp.json()


def wait_for_analysis(client: SonarClient, task_id: str, timeout: float, poll: float) -> str:
    """Poll the background task until it ends; its ``analysisId``."""
    deadline = time.monotonic() + timeout
    while True:
        task = client.get("/api/ce/task", id=task_id)["task"]
        status = task.get("status")
        if status == "SUCCESS":
            return str(task["analysisId"])
        if status in ("FAILED", "CANCELED"):
            raise PluginError(
                f"SonarQube analysis {task_id} {status.lower()}: {task.get('errorMessage', '')}"
            )
        if time.monotonic() > deadline:
            raise PluginError(
                f"SonarQube analysis {task_id} still {status} after {timeout:g}s: "
                "raise 'quality_gate_timeout' or check the server's queue"
            )
        time.sleep(poll)


def gate_verdict(project_status: dict[str, Any]) -> tuple[bool, list[str]]:
    """``(passed, lines)`` from an ``api/qualitygates/project_status`` answer.

    ``OK``, ``WARN`` and ``NONE`` (no gate) pass; ``ERROR`` fails. Each failed condition
    gives a line such as ``new_coverage is 41.2, must not be LT 80``.
    """
    status = project_status["projectStatus"]["status"]
    lines = []
    for cond in project_status["projectStatus"].get("conditions", []):
        if cond.get("status") in ("ERROR", "WARN"):
            lines.append(
                f"{cond['metricKey']} is {cond.get('actualValue', '?')}, must not be "
                f"{cond.get('comparator', '')} {cond.get('errorThreshold', '')}".rstrip()
            )
    return status != "ERROR", lines


def main(environ: dict[str, str] | None = None) -> int:
    s = Settings(environ)
    args, env, host = scanner_args(s)
    command = s.get("scanner", "scanner_path", default="sonar-scanner")
    if not s.bool("skip_scan"):
        run_scanner(command, args, env)
    if not s.bool("quality_gate", "quality_gate_enabled", "wait_gate", default=True):
        say("quality gate not checked (quality_gate: false)")
        return 0
    workdir = s.get("working_directory", default=".scannerwork")
    report = read_report(os.path.join(workdir, "report-task.txt"))
    client = SonarClient(report.get("serverUrl", host), env["SONAR_TOKEN"])
    analysis = wait_for_analysis(
        client,
        report["ceTaskId"],
        timeout=s.float("quality_gate_timeout", "timeout", default=300.0),
        poll=s.float("poll_interval", default=2.0),
    )
    verdict = client.get("/api/qualitygates/project_status", analysisId=analysis)
    passed, lines = gate_verdict(verdict)
    dashboard = report.get("dashboardUrl", "")
    for line in lines:
        say(f"  {line}")
    if not passed:
        raise PluginError(
            f"quality gate failed ({'; '.join(lines) or 'ERROR'}): see {dashboard or host}"
        )
    say(f"quality gate {verdict['projectStatus']['status']}: {dashboard}")
    return 0


if __name__ == "__main__":
    run(main)
