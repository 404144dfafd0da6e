"""``runner build``: builds through the server's REST API (``--server``/``--token``; see
``runner.commands.api_client``)."""

from __future__ import annotations

import time
from typing import Any

import click

from runner.commands.api_client import api_options, client, repo_path

DONE = {"success", "failure", "killed", "error", "skipped", "declined"}


def register(group: click.Group) -> None:
    # Deploying a build is written next to the environments it targets.
    from runner.commands.env import promote, rollback

    build.add_command(promote)
    build.add_command(rollback)
    group.add_command(build)


@click.group()
@api_options
def build() -> None:
    """List, inspect, start, restart and cancel builds; print or follow logs."""


def _line(item: dict[str, Any]) -> str:
    ref = item.get("tag") or item.get("branch") or item.get("ref") or ""
    title = ((item.get("message") or "").splitlines() or [""])[0]
    target = item.get("target") or "-"  # the environment it deploys to
    return (
        f"#{item['number']:<5} {item['status']:<9} {item['event']:<13} {ref:<20} "
        f"{target:<12} {(item.get('commit') or '')[:10]:<10}  {title}"
    )


@build.command("ls")
@click.argument("repo")
@click.option("--branch", help="A branch, or a prefix ending in * (release/*).")
@click.option("--status")
@click.option("--event")
@click.option("--pull-request", type=int, help="The builds of this pull request number.")
@click.option("--page", type=int, default=1)
@api_options
def list_builds(
    repo: str,
    branch: str | None,
    status: str | None,
    event: str | None,
    pull_request: int | None,
    page: int,
) -> None:
    """List the builds of REPO, newest first."""
    chosen = {
        "branch": branch,
        "status": status,
        "event": event,
        "pull_request": pull_request,
        "page": page,
    }
    params = {k: v for k, v in chosen.items() if v}
    for item in client().json("GET", repo_path(repo) + "/builds", params=params):
        click.echo(_line(item))


@build.command("show")
@click.argument("repo")
@click.argument("number", type=int)
@api_options
def show_build(repo: str, number: int) -> None:
    """Show build NUMBER of REPO with its stages and steps."""
    item = client().json("GET", f"{repo_path(repo)}/builds/{number}")
    click.echo(_line(item))
    if item.get("error"):
        click.echo(f"error: {item['error']}")
    for deployed in item.get("deployments") or []:
        by = "" if deployed["build_number"] == number else f" by #{deployed['build_number']}"
        share = deployed.get("traffic_share")
        click.echo(
            f"deployed to {deployed['environment']}{by}: {deployed['state']}"
            + (f" {share}%" if share is not None else "")
        )
    for stage in item["stages"]:
        agent = stage.get("agent_name") or (
            f"agent #{stage['agent_id']}" if stage.get("agent_id") else ""
        )
        click.echo(
            f"  stage {stage['number']} {stage['name']}: {stage['status']}"
            + (f" on {agent}" if agent else "")
            + (f" ({stage['error']})" if stage.get("error") else "")
        )
        for step in stage["steps"]:
            click.echo(
                f"    {stage['number']}/{step['number']} {step['name']}: {step['status']}"
                + (f" exit {step['exit_code']}" if step["exit_code"] else "")
                + (f": {step['error']}" if step.get("error") else "")
            )
    if item.get("config_revision"):
        click.echo(f"config revision: {item['config_revision']}")


@build.command("logs")
@click.argument("repo")
@click.argument("number", type=int)
@click.argument("step", metavar="STAGE/STEP")
@click.option("--follow", "-f", is_flag=True, help="Follow the live stream until the step ends.")
@api_options
def logs(repo: str, number: int, step: str, follow: bool) -> None:
    """Print the log of STAGE/STEP (numbers, as `runner build show` lists them)."""
    stage_no, _, step_no = step.partition("/")
    try:
        where = f"{int(stage_no)}/{int(step_no or 1)}"
    except ValueError:
        raise click.BadParameter(f"{step!r} is not STAGE/STEP, e.g. 1/2") from None
    path = f"{repo_path(repo)}/builds/{number}/logs/{where}"
    api = client()
    if not follow:
        for chunk in api.call("GET", path, stream=True).iter_content(65536):
            click.echo(chunk.decode("utf-8", "replace"), nl=False)
        return
    with api.call("GET", path + "/stream", stream=True) as resp:
        for raw in resp.iter_lines():
            line = raw.decode("utf-8", "replace")
            if line.startswith("event: end"):
                return
            if line.startswith("data: "):
                click.echo(line[6:])


def _action(name: str, help_text: str) -> click.Command:
    @build.command(name, help=help_text)
    @click.argument("repo")
    @click.argument("number", type=int)
    @api_options
    def command(repo: str, number: int) -> None:
        api = client()
        item = api.json("POST", f"{repo_path(repo)}/builds/{number}/{name}")
        click.echo(_line(item))
        if name == "approve" and item["status"] == "blocked":
            # More approvals are needed: say how many, from whom.
            waiting = api.json("GET", f"{repo_path(repo)}/builds/{number}/waiting")
            click.echo(waiting[0]["reason"] if waiting else "still waiting for approval")

    return command


@build.command("restart")
@click.argument("repo")
@click.argument("number", type=int)
@click.option(
    "--failed",
    is_flag=True,
    help="Run only the failed stages and the stages after them; keep the others' results.",
)
@api_options
def restart(repo: str, number: int, failed: bool) -> None:
    """Start a new build of the same commit and event."""
    action = "rerun-failed" if failed else "restart"
    item = client().json("POST", f"{repo_path(repo)}/builds/{number}/{action}")
    click.echo(_line(item))


_action("cancel", "Cancel a pending or running build.")
_action("approve", "Approve a build waiting for approval.")
_action("decline", "Decline a build waiting for approval.")


@build.command("create")
@click.argument("repo")
@click.option("--branch", help="Branch to build (default: the repository's).")
@click.option("--tag", default="", help="Tag to build instead of a branch.")
@click.option("--commit", default="", help="Commit to build (default: the branch tip).")
@click.option("--param", "params", multiple=True, help="KEY=VALUE passed to the pipeline.")
@click.option("--wait", is_flag=True, help="Wait until the build ends; exit 1 unless success.")
@api_options
def create(
    repo: str, branch: str | None, tag: str, commit: str, params: tuple[str, ...], wait: bool
) -> None:
    """Start a manual (custom event) build of REPO."""
    for param in params:
        if "=" not in param:
            raise click.BadParameter(f"{param!r}: write NAME=value", param_hint="--param")
    body = {
        "branch": branch,
        "tag": tag,
        "commit": commit,
        "params": dict(p.split("=", 1) for p in params),
    }
    api = client()
    item = api.json("POST", repo_path(repo) + "/builds", json=body)
    click.echo(_line(item))
    while wait and item["status"] not in DONE:
        time.sleep(1)
        item = api.json("GET", f"{repo_path(repo)}/builds/{item['number']}")
    if wait:
        click.echo(_line(item))
        raise SystemExit(0 if item["status"] == "success" else 1)
