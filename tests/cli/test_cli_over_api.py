"""Every server command of the CLI (repo, secret, cron, env, user, agent, build) works against a
real server on a port of its own, from a workstation with an empty HOME and no RUNNER_* settings:
`runner login` saves the only file the CLI writes (mode 0600), the webhook URL printed is the one
the server reports, and `runner logout` revokes the token and deletes the file."""

from __future__ import annotations

import json
import re
import stat

import requests

from tests.cli.conftest import LOGIN_FILE, PIPELINE, PUBLIC_URL, Workstation


def secret_of(output: str) -> str:
    found = re.search(r"webhook secret: (\S+)", output)
    assert found, output
    return found.group(1)


def test_login_saves_one_file_readable_by_its_owner_only(admin):
    assert admin.files() == [LOGIN_FILE]
    assert stat.S_IMODE((admin.home / LOGIN_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE((admin.home / LOGIN_FILE.parent).stat().st_mode) == 0o700


def test_repo_add_prints_the_servers_webhook_url_and_secret(admin):
    out = admin.ok(
        "repo", "add", "acme/web", "--forge", "gitlab", "--clone-url", "https://git.example/a.git"
    )
    assert "repository acme/web activated (gitlab)" in out
    assert f"webhook URL:    {PUBLIC_URL}/hook/acme/web" in out
    assert len(secret_of(out)) == 40
    assert "Secret token" in out  # where to paste it in GitLab
    refused = admin.fails("repo", "add", "acme/web", "--clone-url", "https://git.example/a.git")
    assert "409" in refused and "already active" in refused
    assert admin.files() == [LOGIN_FILE]


def test_repo_given_secret_ls_show_update_and_rm(admin):
    admin.ok("repo", "add", "acme/api", "--clone-url", "file:///srv/api.git", "--secret", "s3cret")
    admin.ok("repo", "add", "acme/www", "--clone-url", "file:///srv/www.git", "--trusted")
    listed = admin.ok("repo", "ls").splitlines()
    assert "acme/api  github active  file:///srv/api.git" in listed
    assert "acme/www  github active trusted  file:///srv/www.git" in listed
    out = admin.ok("repo", "show", "acme/api")
    assert secret_of(out) == "s3cret" and "(no token: not reported)" in out
    assert f"webhook URL:    {PUBLIC_URL}/hook/acme/api" in out
    out = admin.ok("repo", "update", "acme/api", "--inactive", "--rotate-secret")
    assert secret_of(out) not in ("s3cret", "")
    assert "acme/api  github inactive  file:///srv/api.git" in admin.ok("repo", "ls")
    assert "nothing to change" in admin.fails("repo", "update", "acme/api")
    assert "removed" in admin.ok("repo", "rm", "acme/api", "--yes")
    assert "no repository acme/api" in admin.fails("repo", "show", "acme/api")
    admin.fails("repo", "rm", "acme/www", input="n\n")
    assert "acme/www" in admin.ok("repo", "ls")
    assert admin.files() == [LOGIN_FILE]


def test_repo_generic_hook_is_off_until_turned_on(admin):
    out = admin.ok("repo", "add", "acme/ops", "--forge", "generic", "--clone-url", "file:///x")
    assert "--generic-hook" in out  # the hint says the switch is needed
    assert "generic hook:   off" in admin.ok("repo", "show", "acme/ops")
    admin.ok("repo", "update", "acme/ops", "--generic-hook")
    assert "generic hook:   on" in admin.ok("repo", "show", "acme/ops")
    assert "acme/ops  generic active generic-hook  file:///x" in admin.ok("repo", "ls")
    admin.ok("repo", "update", "acme/ops", "--no-generic-hook")
    assert "generic hook:   off" in admin.ok("repo", "show", "acme/ops")


def test_repo_keeps_logs_for_its_own_days_or_the_servers(admin):
    admin.ok("repo", "add", "acme/logs", "--clone-url", "file:///srv/logs.git")
    assert "keeps logs:     (server setting)" in admin.ok("repo", "show", "acme/logs")
    admin.ok("repo", "update", "acme/logs", "--log-retention-days", "14")
    assert "keeps logs:     14 days" in admin.ok("repo", "show", "acme/logs")
    refused = admin.fails("repo", "update", "acme/logs", "--log-retention-days", "-1")
    assert "log_retention_days" in refused
    admin.ok("repo", "update", "acme/logs", "--log-retention-days", "0")
    assert "keeps logs:     (server setting)" in admin.ok("repo", "show", "acme/logs")


def test_secret_add_replace_ls_and_rm(admin):
    admin.ok("repo", "add", "acme/sec", "--clone-url", "file:///srv/sec.git")
    assert "saved" in admin.ok("secret", "add", "acme/sec", "password", "first-value")
    admin.ok("secret", "add", "acme/sec", "password", "--event", "push", input="second-value")
    admin.ok("secret", "add", "acme/sec", "password", "env-value", "--environment", "production")
    listed = admin.ok("secret", "ls", "acme/sec")
    assert sorted(listed.splitlines()) == [
        "password\tevents=push",
        "password\tevents=push,tag,cron,custom,promote,rollback environment=production",
    ]
    assert "value" not in listed
    admin.ok("secret", "rm", "acme/sec", "password")
    assert "environment=production" in admin.ok("secret", "ls", "acme/sec")
    assert "no secret password" in admin.fails("secret", "rm", "acme/sec", "password")
    assert admin.files() == [LOGIN_FILE]


def test_secret_update_changes_the_rules_and_keeps_the_value_unless_given(admin, server):
    admin.ok("repo", "add", "acme/upd", "--clone-url", "file:///srv/upd.git")
    admin.ok("secret", "add", "acme/upd", "token", "kept-value", "--event", "push")
    out = admin.ok(
        "secret", "update", "acme/upd", "token", "--event", "tag", "--allow-pull-request"
    )
    assert "changed" in out
    assert admin.ok("secret", "ls", "acme/upd").splitlines() == ["token\tevents=tag pull requests"]
    admin.ok(
        "secret", "update", "acme/upd", "token", "--no-allow-pull-request", "--move-to", "prod"
    )
    assert admin.ok("secret", "ls", "acme/upd").splitlines() == [
        "token\tevents=tag environment=prod"
    ]
    assert "no secret nope" in admin.fails("secret", "update", "acme/upd", "nope", "--event", "tag")


def test_cron_update_changes_the_schedule_and_branch(admin, server, origin):
    admin.ok("repo", "add", "acme/cup", "--clone-url", origin.clone_url)
    admin.ok("cron", "add", "acme/cup", "nightly", "0 3 * * *")
    out = admin.ok(
        "cron", "update", "acme/cup", "nightly", "--schedule", "@daily", "--branch", "dev"
    )
    assert "'@daily' on dev" in out
    assert "nightly  '@daily'  branch=dev  enabled" in admin.ok("cron", "ls", "acme/cup")
    assert "five-field" in admin.fails("cron", "update", "acme/cup", "nightly", "--schedule", "x")


def test_cron_add_ls_disable_run_and_rm(admin, server, origin):
    admin.ok("repo", "add", "acme/app", "--clone-url", origin.clone_url)
    out = admin.ok("cron", "add", "acme/app", "nightly", "0 3 * * *")
    assert "next run" in out and "03:00 UTC" in out
    assert "five-field cron expression" in admin.fails(
        "cron", "add", "acme/app", "broken", "every night"
    )
    assert "nightly  '0 3 * * *'  branch=main  enabled  last=never" in admin.ok(
        "cron", "ls", "acme/app"
    )
    out = admin.ok("cron", "run", "acme/app", "nightly")
    assert "build #1 of acme/app created (pending)" in out
    build = server.build("acme/app", 1, server.env["RUNNER_TOKEN"])
    assert (build["event"], build["sender"]) == ("cron", "cron")
    assert "last=never" not in admin.ok("cron", "ls", "acme/app")
    admin.ok("cron", "disable", "acme/app", "nightly")
    assert "disabled" in admin.ok("cron", "ls", "acme/app")
    admin.ok("cron", "enable", "acme/app", "nightly")
    assert "enabled" in admin.ok("cron", "ls", "acme/app")
    admin.ok("cron", "rm", "acme/app", "nightly")
    assert admin.ok("cron", "ls", "acme/app") == ""
    assert "no repository acme/nothing" in admin.fails("cron", "ls", "acme/nothing")
    assert admin.files() == [LOGIN_FILE]


DEPLOY_STEP = """\
- name: deploy
  image: runner-test/busybox
  commands: [echo deploying to $DRONE_DEPLOY_TO]
  when:
    target: [production]
"""


def test_env_and_build_commands(admin, origin):
    origin.commit({".drone.yml": PIPELINE + DEPLOY_STEP}, "deploy step")
    admin.ok("repo", "add", "acme/deploy", "--clone-url", origin.clone_url)
    admin.ok("env", "add", "acme/deploy", "production", "--labels", "env=production", "--lock")
    admin.ok("env", "set", "acme/deploy", "production", "--no-lock", "--approval")
    assert admin.ok("env", "ls", "acme/deploy").splitlines() == [
        "production\tlabels env=production; approval"
    ]
    created = admin.ok("build", "create", "acme/deploy", "--branch", "main")
    assert created.startswith("#1 ") and "custom" in created
    assert "#1 " in admin.ok("build", "ls", "acme/deploy")
    assert "#1 " in admin.ok("build", "ls", "acme/deploy", "--branch", "ma*")
    assert admin.ok("build", "ls", "acme/deploy", "--branch", "dev*") == ""
    assert admin.ok("build", "ls", "acme/deploy", "--pull-request", "3") == ""
    assert "stage 1 default" in admin.ok("build", "show", "acme/deploy", "1")
    assert admin.ok("build", "cancel", "acme/deploy", "1").startswith("#1 ")
    assert admin.ok("build", "restart", "acme/deploy", "1").startswith("#2 ")
    promoted = admin.ok("build", "promote", "acme/deploy", "1", "production")
    assert promoted.startswith("build #3: promote of ") and "to production, blocked" in promoted
    assert " pending " in admin.ok("build", "approve", "acme/deploy", "3")
    rolled = admin.ok("build", "rollback", "acme/deploy", "1", "production")
    assert rolled.startswith("build #4: rollback of ") and "blocked" in rolled
    assert " declined " in admin.ok("build", "decline", "acme/deploy", "4")
    assert admin.ok("build", "logs", "acme/deploy", "1", "1/1") == ""
    admin.ok("env", "rm", "acme/deploy", "production")
    gone = admin.fails("env", "rm", "acme/deploy", "production")
    assert "404" in gone and "no environment 'production'" in gone
    assert admin.files() == [LOGIN_FILE]


def test_user_and_agent_commands(admin, server):
    out = admin.ok("user", "add", "dana", "--password", "a-long-password")
    assert out.strip() == "user dana added"
    assert "dana" in admin.ok("user", "ls").split()
    assert "sessions are ended" in admin.ok(
        "user", "passwd", "dana", "--password", "another-long-password"
    )
    token = admin.ok("user", "token", "dana").strip()
    whoami = requests.get(
        server.url + "/api/v1/user", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert whoami.json()["login"] == "dana"
    assert "403" in admin.fails("user", "ls", "--token", token)
    admin.ok("repo", "add", "acme/open", "--clone-url", "file:///srv/open.git")
    shown = admin.ok("repo", "show", "acme/open", "--token", token)  # dana may only read it
    assert "repository:     acme/open (github)" in shown and "webhook" not in shown

    agent_token = admin.ok("user", "agent-token", "edge", "--labels", "env=test").strip()
    assert agent_token
    assert "env=test" in admin.ok("agent", "ls")
    admin.ok("agent", "set", "edge", "--capacity", "3")
    assert "capacity 1 → 3" in admin.ok("agent", "history", "edge")
    assert admin.ok("agent", "token", "create", "edge-2").strip()
    assert "edge-2: tokens revoked" in admin.ok("agent", "token", "revoke", "edge-2")
    assert admin.files() == [LOGIN_FILE]


def test_logout_revokes_the_token_and_deletes_the_file(server, tmp_path):
    station = Workstation(tmp_path / "home")
    station.login(server)
    token = json.loads((station.home / LOGIN_FILE).read_text())["token"]
    station.ok("user", "ls")
    out = station.ok("logout")
    assert "logged out" in out
    assert station.files() == []
    whoami = requests.get(
        server.url + "/api/v1/user", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert whoami.status_code == 401
    refused = station.fails("repo", "ls", "--server", server.url)
    assert "no API token" in refused and "runner login" in refused


def test_env_approval_rules_and_a_promote_with_nothing_to_deploy(admin, server, origin):
    admin.ok("repo", "add", "acme/rules", "--clone-url", origin.clone_url)
    admin.ok(
        "env", "add", "acme/rules", "production", "--approval", "--approvals-required", "2",
        "--four-eyes",
    )  # fmt: skip
    admin.ok("env", "add", "acme/rules", "staging", "--approval", "--rollback-exempt")
    assert admin.ok("env", "ls", "acme/rules").splitlines() == [
        "production\tapproval (2 approvers, four-eyes)",
        "staging\tapproval (rollbacks exempt)",
    ]
    admin.ok(
        "env", "set", "acme/rules", "production", "--no-four-eyes", "--approvals-required", "1"
    )
    assert admin.ok("env", "ls", "acme/rules").splitlines()[0] == "production\tapproval"
    bad = admin.fails("env", "set", "acme/rules", "production", "--approvals-required", "0")
    assert "not a whole number from 1 to 10: 0" in bad

    # The origin's pipeline has no step for production: nothing to deploy, no build made.
    assert admin.ok("build", "create", "acme/rules").startswith("#1 ")
    refused = admin.fails("build", "promote", "acme/rules", "1", "production")
    assert "422" in refused
    assert "build #1 (commit " in refused and "has no step for environment production" in refused
    staging = admin.fails("build", "rollback", "acme/rules", "1", "staging")
    assert "has no step for environment staging" in staging
    assert admin.ok("build", "create", "acme/rules").startswith("#2 ")  # no number was lost

    origin.commit({".drone.yml": PIPELINE + DEPLOY_STEP.replace("[production]", "[staging]")})
    assert admin.ok("build", "create", "acme/rules").startswith("#3 ")
    # Build #3 never ran in staging: its "rollback" is a release and waits, exemption or not
    # (a rollback to what was live there runs at once: tests/agents/test_deploy_approvals.py).
    rolled = admin.ok("build", "rollback", "acme/rules", "3", "staging")
    assert rolled.startswith("build #4: rollback of ") and rolled.rstrip().endswith(", blocked")
    promoted = admin.ok("build", "promote", "acme/rules", "3", "staging")
    assert promoted.rstrip().endswith("to staging, blocked")
